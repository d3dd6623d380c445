"""The ``missionline`` command: workspace, data and metric commands.

Errors in the user's input are printed without a traceback and exit with status 2.
"""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from missionline.cli.alignment import register_alignment_commands
from missionline.cli.attribution import register_attribution_commands
from missionline.cli.cascade import register_cascade_commands
from missionline.cli.clv import register_clv_commands
from missionline.cli.customers import register_customer_commands
from missionline.cli.data import register_data_commands
from missionline.cli.experiments import register_experiment_commands
from missionline.cli.flow import register_flow_commands
from missionline.cli.initiatives import register_initiative_commands
from missionline.cli.lifecycle import register_lifecycle_commands
from missionline.cli.metrics import register_metric_commands
from missionline.cli.output import err_console
from missionline.cli.plan import register_plan_commands
from missionline.cli.revenue import register_revenue_commands
from missionline.cli.serve import register_serve_commands
from missionline.cli.sla import register_sla_commands
from missionline.cli.users import register_user_commands
from missionline.cli.wave import register_wave_commands
from missionline.errors import MissionlineError

app = typer.Typer(
    name="missionline",
    help="Align Marketing and Sales to the business mission, and measure the alignment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

register_data_commands(app)
register_metric_commands(app)
register_plan_commands(app)
register_flow_commands(app)
register_sla_commands(app)
register_revenue_commands(app)
register_wave_commands(app)
register_lifecycle_commands(app)
register_experiment_commands(app)
register_clv_commands(app)
register_customer_commands(app)
register_attribution_commands(app)
register_initiative_commands(app)
register_alignment_commands(app)
register_cascade_commands(app)
register_serve_commands(app)
register_user_commands(app)


@app.command()
def version() -> None:
    """Print the missionline version."""
    from missionline import __version__

    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 2 bad input or usage, 1 other failures).

    Usage errors are reported by the command-line parser itself (standalone mode); mistakes in
    the user's files surface as MissionlineError and are printed here, without a traceback.
    """
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="missionline", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except MissionlineError as exc:
        err_console.print(Text("error: ", style="bold red") + Text(exc.render()), soft_wrap=True)
        return exc.exit_code
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
