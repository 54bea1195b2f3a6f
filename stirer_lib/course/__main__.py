"""`python -m stirer_lib.course`: run the whole course headlessly with papermill."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import run_cli
from . import reference
from .build import settled
from .profiles import add_profile_argument, default_profile
from .runner import NotebookFailed, run_course, run_solutions
from .session import prepare


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stirer_lib.course", description=__doc__)
    add_profile_argument(ap)
    ap.add_argument("--data", default=None, help="data ROOT (textzoom/ and pretrain/); default: the profile's")
    ap.add_argument("--run-dir", default=None, help="where executed notebooks, checkpoints and results go")
    ap.add_argument("--from", dest="start", type=int, default=1, help="start at notebook number N")
    ap.add_argument(
        "--only",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="run only the notebooks with these numbers (e.g. --only 2 6)",
    )
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="profile override, e.g. --set pretrain.max_steps=100 (repeatable)",
    )
    ap.add_argument(
        "--solutions",
        action="store_true",
        help="after the chapters, run the worked solutions (notebooks/solutions/) into RUN/solutions/",
    )
    ap.add_argument(
        "--solutions-only",
        action="store_true",
        help="run only the worked solutions, on a run directory whose chapters have run",
    )
    ap.add_argument(
        "--use-reference",
        action="store_true",
        help="the training notebooks load the repository's reference checkpoints (reference/PROFILE/) "
        "instead of training: the course in minutes",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue a stopped course in the same run directory: notebooks 04 / 05 go on from their "
        "stage's last.pt (a finished stage is kept)",
    )
    ap.add_argument(
        "--publish-reference",
        metavar="RUN",
        default=None,
        help="copy RUN/reference/ (written by a whole course run) to reference/PROFILE/ and stop",
    )
    ap.add_argument("--overwrite", action="store_true", help="with --publish-reference: replace the existing one")
    ap.add_argument(
        "--print-config",
        action="store_true",
        help="print the settled profile as JSON (every stage's start weights, model and schedule; the data) and exit",
    )
    args = ap.parse_args(argv)
    profile = args.profile or default_profile()
    if args.publish_reference:
        dst = reference.publish(args.publish_reference, profile, overwrite=args.overwrite)
        print(f"published {args.publish_reference}/reference to {dst}")
        return 0
    prof, _ = prepare(profile, args.overrides, args.data, args.run_dir)
    config = settled(prof)  # a setting that cannot apply is refused here, before any notebook runs
    if args.print_config:
        print(json.dumps(config, indent=1))
        return 0
    try:
        if not args.solutions_only:
            run_course(
                profile,
                args.data,
                args.run_dir,
                args.start,
                args.overrides,
                only=args.only,
                use_reference=args.use_reference,
                resume=args.resume,
            )
        if args.solutions or args.solutions_only:
            run_solutions(
                profile, args.data, args.run_dir, args.overrides, only=args.only, use_reference=args.use_reference
            )
    except NotebookFailed as err:  # the notebook's own error is in its executed copy
        print(f"\nCOURSE STOPPED: {err}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
