"""A plan (`plan/changed_releases.py::UpgradePlan`) as the markdown comment a pull request gets."""

from __future__ import annotations

from deployer.plan.changed_releases import UpgradePlan


def markdown_summary(plan: UpgradePlan) -> str:
    if plan.against == "cluster":
        lines = [f"### deployer plan: the clusters' ledgers → `{plan.head[:12]}`", ""]
        if plan.unchecked:
            lines += [f"**Not checked** ({len(plan.unchecked)}): planned anyway, the cluster could not be read:", ""]
            lines += [f"- `{u['id']}`: {u['reason']}" for u in plan.unchecked] + [""]
        if plan.unchanged:
            lines += [f"{len(plan.unchanged)} release(s) unchanged in their cluster.", ""]
    else:
        lines = [f"### deployer plan: `{plan.base[:12]}` → `{plan.head[:12]}`", ""]
    if plan.empty:
        lines.append("No cluster or hub is affected by this change." if plan.against != "cluster"
                     else "Every release is unchanged in its cluster.")
        return "\n".join(lines) + "\n"
    for title, jobs in (("Support stacks", plan.support_jobs), ("Staging hubs (first)", plan.staging_jobs),
                        ("Prod hubs (after their cluster's staging hubs succeed)", plan.prod_jobs)):
        if not jobs:
            continue
        lines += [f"**{title}** ({len(jobs)})", "", "| release | chart | why |", "| --- | --- | --- |"]
        for j in jobs:
            why = "<br>".join(r.replace("|", "\\|") for r in j.reasons[:6])
            if len(j.reasons) > 6:
                why += f"<br>and {len(j.reasons) - 6} more"
            lines.append(f"| `{j.id}` | {j.chart} | {why} |")
        lines.append("")
    if plan.removals:
        lines += [f"**To remove** ({len(plan.removals)}) — not removed automatically:", ""]
        lines += [f"- `{r['id']}` ({r['reason']})" for r in plan.removals]
        lines.append("")
    return "\n".join(lines) + "\n"
