"""`python -m protocol schema|docs`: write the JSON Schemas and docs/protocol.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protocol.docs import render_markdown, write_schemas


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and write what was asked for."""
    parser = argparse.ArgumentParser(prog="python -m protocol", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    schema = sub.add_parser("schema", help="write one JSON Schema per message kind")
    schema.add_argument("--out", type=Path, default=Path("docs/schema"))
    docs = sub.add_parser("docs", help="write the human protocol page")
    docs.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    if args.command == "schema":
        for path in write_schemas(args.out):
            print(path)
    else:
        text = render_markdown()
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.write_text(text)
            print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
