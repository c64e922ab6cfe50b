"""`deployer provision plan | apply | destroy | output | unlock <cluster>`: Terraform, driven by cluster.yaml."""

from __future__ import annotations

import json
import typer

from deployer.cli.options import seconds_option
from deployer.cli.app import OutputFormat, state
from deployer.errors import EXIT_FAILED, EXIT_OK, DeployerError

EXIT_CHANGES = 2  # `provision plan`: terraform's -detailed-exitcode

provision_app = typer.Typer(
    name="provision",
    help="Create, change or destroy a cluster's cloud resources with Terraform, from its cluster.yaml "
    "`terraform:` block (see README: Provisioning clusters).",
    no_args_is_help=True,
)

_CLUSTER = typer.Argument(..., help="Cluster to provision (a folder under config/clusters).")
_OUTPUT = typer.Option(OutputFormat.text, "--output", "-o", help="text, or json for scripts.")
_YES = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (CI).")
_TIMEOUT = seconds_option(3600.0, "--timeout", minimum=1, help="Seconds one terraform call may take.")


def _provisioner(ctx: typer.Context, cluster: str, timeout: float):
    from deployer.checks.validate import load_valid_cluster
    from deployer.run.provision import Provisioner, terraform_block

    root = state(ctx).root()
    model = terraform_block(load_valid_cluster(root, cluster))
    return Provisioner(root, model, state(ctx).runner, timeout=timeout)


def _echo(p, text: str, err: bool = False) -> None:
    typer.echo(p.runner.redactor(text), err=err)


_SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "read": "<="}


def _print_summary(p, summary, header: str, err: bool = False) -> None:
    _echo(p, header, err)
    for c in summary.changes:
        why = ""
        if c.replace_paths:
            why = "  (replaced because of: " + ", ".join(".".join(str(x) for x in rp) for rp in c.replace_paths) + ")"
        _echo(p, f"  {_SYMBOL.get(c.action, '?'):>3} {c.address}{why}", err)
    if not summary.changes:
        for name in summary.output_changes:
            _echo(p, f"    output {name} changes", err)


def _where(p) -> str:
    return f"cluster {p.cluster.name}: module {p.ws.module}, state {p.ws.state_location}"


def _confirm_apply(p, yes: bool, destroy: bool = False):
    def confirm(summary) -> bool:
        if yes:
            return True
        # the question and what it is about go to stderr: stdout stays the result (--output json)
        _print_summary(p, summary, f"{_where(p)}\nPlan: {summary.line()}", err=True)
        if destroy:
            return _typed_name(p.cluster.name)
        try:
            return typer.confirm("apply these changes?", default=False, err=True)
        except typer.Abort as exc:
            raise DeployerError("not applied: no answer to the confirmation (standard input is closed)",
                                hint="pass --yes to apply without asking (CI)") from exc

    return confirm


def _typed_name(name: str) -> bool:
    try:
        typed = typer.prompt(f"this destroys every resource of cluster `{name}`; type its name to confirm", err=True)
    except typer.Abort as exc:
        raise DeployerError("not destroyed: no answer to the confirmation (standard input is closed)",
                            hint="type the cluster name when asked, or pass --yes") from exc
    if typed.strip() != name:
        raise DeployerError(f"not destroyed: `{typed.strip()}` is not `{name}`", hint="type the cluster name exactly")
    return True


@provision_app.command("plan")
def plan(
    ctx: typer.Context,
    cluster: str = _CLUSTER,
    destroy: bool = typer.Option(False, "--destroy", help="Plan the destruction of everything instead."),
    timeout: float = _TIMEOUT,
    output: OutputFormat = _OUTPUT,
) -> None:
    """Init, then plan into a saved plan file. Exit 0: no changes, 2: changes, 1: error."""
    p = _provisioner(ctx, cluster, timeout)
    result = p.plan(destroy=destroy)
    if output is OutputFormat.json:
        _echo(p, json.dumps({"cluster": cluster, "state": p.ws.state_location, **result.to_json()}, indent=2))
    else:
        if result.summary.has_changes:
            _print_summary(p, result.summary, _where(p))
            _echo(p, f"Plan: {result.summary.line()} ({result.seconds:.1f}s)")
            _echo(p, f"saved plan: {result.saved}; apply it with `deployer provision apply {cluster}`")
        else:
            _echo(p, f"{_where(p)}\nNo changes: the cloud matches the configuration ({result.seconds:.1f}s).")
    raise typer.Exit(EXIT_CHANGES if result.summary.has_changes and result.saved else EXIT_OK)


def _print_apply(p, result, verb: str) -> None:
    for note in result.notes:
        _echo(p, f"note: {note}", err=True)
    if result.applied:
        how = " (the saved plan)" if result.used_saved_plan else ""
        _echo(p, f"{verb}{how}: {result.summary.line()} in {result.seconds:.1f}s")
    if result.outputs.values or result.outputs.sensitive:
        _print_outputs(p, result.outputs)
        _echo(p, f"outputs saved to {p.ws.outputs_file} (deploys use them)")


@provision_app.command("apply")
def apply(ctx: typer.Context, cluster: str = _CLUSTER, yes: bool = _YES, timeout: float = _TIMEOUT,
          output: OutputFormat = _OUTPUT) -> None:
    """Apply the saved plan if it is still current; else plan, show it and ask (or --yes).
    A plan made against a state that has changed since is refused."""
    p = _provisioner(ctx, cluster, timeout)
    result = p.apply(_confirm_apply(p, yes))
    if output is OutputFormat.json:
        _echo(p, json.dumps({"cluster": cluster, **result.to_json()}, indent=2))
    else:
        _print_apply(p, result, "applied")
    raise typer.Exit(EXIT_OK)


@provision_app.command("destroy")
def destroy(ctx: typer.Context, cluster: str = _CLUSTER, yes: bool = _YES, timeout: float = _TIMEOUT,
            output: OutputFormat = _OUTPUT) -> None:
    """Destroy every resource of the cluster: asks to type the cluster's name (or --yes)."""
    p = _provisioner(ctx, cluster, timeout)
    result = p.apply(_confirm_apply(p, yes, destroy=True), destroy=True)
    if output is OutputFormat.json:
        _echo(p, json.dumps({"cluster": cluster, **result.to_json()}, indent=2))
    else:
        _print_apply(p, result, "destroyed")
    raise typer.Exit(EXIT_OK)


def _print_outputs(p, outputs) -> None:
    for name, value in outputs.values.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        if len(shown) > 100:
            shown = shown[:97] + "..."
        _echo(p, f"  {name} = {shown}")
    for name in outputs.sensitive:
        _echo(p, f"  {name} = (sensitive: not shown, not saved)")


@provision_app.command("output")
def output_cmd(ctx: typer.Context, cluster: str = _CLUSTER, timeout: float = _TIMEOUT,
               output: OutputFormat = _OUTPUT) -> None:
    """Read the cluster's Terraform outputs, save them for deploys, and print them (sensitive ones never)."""
    p = _provisioner(ctx, cluster, timeout)
    outputs = p.outputs(refresh_init=True)
    if output is OutputFormat.json:
        _echo(p, json.dumps({"cluster": cluster, "state": p.ws.state_location, **outputs.to_json()}, indent=2))
    elif not outputs.values and not outputs.sensitive:
        _echo(p, f"cluster {cluster} has no outputs yet: run `deployer provision apply {cluster}` first")
        raise typer.Exit(EXIT_FAILED)
    else:
        _print_outputs(p, outputs)
        _echo(p, f"saved to {p.ws.outputs_file}", err=True)
    raise typer.Exit(EXIT_OK)


@provision_app.command("unlock")
def unlock(ctx: typer.Context, cluster: str = _CLUSTER,
           lock_id: str = typer.Argument(..., help="The lock ID from the `state is locked` message."),
           yes: bool = _YES, timeout: float = seconds_option(120.0, "--timeout", minimum=1)) -> None:
    """Release a state lock left behind by an interrupted provision (make sure none is running)."""
    from deployer.run.provision import check_lock_id

    lock_id = check_lock_id(lock_id)
    p = _provisioner(ctx, cluster, timeout)
    if not yes:
        try:
            ok = typer.confirm(f"release lock {lock_id} on {p.ws.state_location}? (only if no provision runs)",
                               default=False, err=True)
        except typer.Abort:
            ok = False
        if not ok:
            raise DeployerError("lock not released", hint="pass --yes once you are sure no provision is running")
    p.unlock(lock_id)
    _echo(p, f"released lock {lock_id} on {p.ws.state_location}")


def register(app: typer.Typer) -> None:
    app.add_typer(provision_app, name="provision")

