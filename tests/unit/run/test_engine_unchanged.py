"""An unchanged step in the engine: reported unchanged, a success, lets dependents run."""

from __future__ import annotations


def test_an_unchanged_step_is_reported_unchanged_counts_as_success_and_lets_dependents_run():
    from deployer.run.engine import Engine, Outcome, State, Step

    async def nothing(ctx):
        return Outcome("unchanged: unchanged since revision 3", {"revision": 3}, unchanged=True)

    async def work(ctx):
        return Outcome("revision 2 deployed")

    report = Engine(2).run([Step("c/s", "c/s", nothing), Step("c/p", "c/p", work, needs=("c/s",))])
    states = {r.id: r.state for r in report.results}
    assert states == {"c/s": State.unchanged, "c/p": State.succeeded}
    assert report.ok and report.to_json()["counts"]["unchanged"] == 1
