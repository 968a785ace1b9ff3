"""The `gristmill` command: wires each area's commands, turns user errors into one message and an
exit code. Only argparse loads here; each command imports what it needs when it runs, so
`gristmill --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys

EXIT_CODES = """exit codes:
  0  success            3  another run holds the store   5  verify found problems
  1  error (see message) 4  the store stayed busy        6  the store is from a newer release
  2  usage error        7  the store is damaged         130 interrupted"""


def common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--store", metavar="PATH", default=argparse.SUPPRESS,
                       help="the store file (default: $GRISTMILL_STORE or ./gristmill.duckdb)")
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="print machine-readable JSON on stdout")
    group.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="no progress bars")
    return common


def build_parser() -> argparse.ArgumentParser:
    from gristmill import demo_command
    from gristmill.curation import commands as curation_commands
    from gristmill.curation import leakage_command
    from gristmill.evals import commands as eval_commands
    from gristmill.flywheel import commands as flywheel_commands
    from gristmill.store import commands as store_commands
    from gristmill.synth import commands as synth_commands
    from gristmill.train import commands as train_commands
    from gristmill.train import registry_commands

    common = common_options()
    parser = argparse.ArgumentParser(
        prog="gristmill",
        description="Versioned training data for LLM fine-tuning: ingest examples, curate them "
        "step by step with every removal explained, export what trainers read.",
        epilog=EXIT_CODES + "\n\nStart with `gristmill demo`; `gristmill COMMAND --help` "
        "tells more.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    store_commands.register(sub, common)
    curation_commands.register(sub, common)
    leakage_command.register(sub, common)
    synth_commands.register(sub, common)
    train_commands.register(sub, common)
    registry_commands.register(sub, common)
    eval_commands.register(sub, common)
    flywheel_commands.register(sub, common)
    flywheel_commands.register_forget(sub, common)
    demo_command.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # subtle: not set_defaults, which would change the options' shared actions so that the
    # command's own parser reset a value given before the command's name
    for name, default in (("store", None), ("json", False), ("quiet", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    from gristmill import interrupts
    from gristmill.errors import GristmillError
    from gristmill.output import error

    interrupts.install()
    try:
        return args.handler(args) or 0
    except GristmillError as e:
        error(args.command, str(e))
        return e.exit_code
    except BrokenPipeError:  # `gristmill export ... | head`
        return 0
    except OSError as e:  # the machine's side: permissions, a full disk, a vanished file
        where = f" ({e.filename})" if e.filename else ""
        error(args.command, f"{e.strerror or e}{where}")
        return 1
    except KeyboardInterrupt:
        print(f"gristmill {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
