"""Auth: users with roles, login and API tokens, and the scope every query goes through."""
