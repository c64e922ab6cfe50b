"""`deployer render`: offline rendering of a fleet with the real charts (../shared/charts) and the
real helm, the Kubernetes API schema check, the fleet checks, and clear problems on bad input."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from deployer.adapters.process import ProcessRunner
from deployer.cli import app
from deployer.cli.app import run_app
from tests.conftest import require_chart_repo, require_tool
from tests.repo_builder import encrypted_yaml, make_cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chart_repo() -> Path:
    require_tool("helm")
    return require_chart_repo()


@pytest.fixture(autouse=True)
def shared_state(tmp_path_factory, monkeypatch, chart_repo):
    # one chart cache for the module: the charts are prepared once, as on a user's machine
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path_factory.getbasetemp() / "render-state"))
    monkeypatch.setenv("DEPLOYER_CHART_REPO", str(chart_repo))
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)


def render(capsys, root: Path, *args: str) -> tuple[int, str, str]:
    code = run_app(app, ["--root", str(root), "render", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def render_json(capsys, root: Path, *args: str) -> tuple[int, dict]:
    code, out, err = render(capsys, root, *args, "--output", "json")
    assert code in (0, 1), f"exit {code}: {err[-3000:]}"  # 0 clean, 1 problems (in the JSON); else no JSON
    return code, json.loads(out)


def problems(payload: dict, code: str | None = None) -> list[dict]:
    return [p for p in payload["problems"] if code is None or p["code"] == code]


def set_values(folder: Path, hub: str, values: dict) -> None:
    (folder / f"{hub}.values.yaml").write_text(yaml.safe_dump(values))


def set_chart(folder: Path, hub: str, chart: str) -> None:
    text = (folder / "cluster.yaml").read_text()
    block = text.split(f"- name: {hub}\n", 1)
    block[1] = block[1].replace("helm_chart: basehub", f"helm_chart: {chart}", 1)
    (folder / "cluster.yaml").write_text(f"- name: {hub}\n".join(block))


# --- a clean fleet ---------------------------------------------------------------------------------


def test_a_clean_cluster_renders_every_release_and_checks_every_object(tmp_path, capsys):
    make_cluster(tmp_path, "alpha")
    code, out, err = render(capsys, tmp_path, "alpha")
    assert code == 0, out + err
    assert out.splitlines()[0] == "cluster alpha (Kubernetes 1.34)"
    assert [line.split()[:2] for line in out.splitlines()[1:4]] == [
        ["ok", "alpha/support"], ["ok", "alpha/staging"], ["ok", "alpha/prod"]]
    assert out.splitlines()[-1].startswith("3 release(s) rendered in ")
    assert out.splitlines()[-1].endswith(": 3 clean, 0 problem(s)")
    assert err == ""


def test_json_output_counts_objects_checked_against_the_kubernetes_api(tmp_path, capsys):
    # a cloud-like cluster: the local cluster's own layer switches components off (fewer objects)
    make_cluster(tmp_path, "alpha", ["staging"], provider="kubeconfig")
    code, payload = render_json(capsys, tmp_path, "alpha", "staging")
    assert code == 0
    assert payload["summary"] | {"seconds": 0} == {"clusters": 1, "releases": 1, "clean": 1, "errors": 0, "seconds": 0}
    [release] = payload["clusters"][0]["releases"]
    assert (release["id"], release["chart"], release["chart_version"]) == ("alpha/staging", "basehub", "0.1.0")
    assert release["objects"] > 20 and release["schema_checked"] == release["objects"]


def test_an_encrypted_values_file_without_a_key_renders_with_placeholders_and_says_so(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["staging"])
    (folder / "enc-staging.secret.values.yaml").write_text(encrypted_yaml(
        "jupyterhub:\n  hub:\n    config:\n      GitHubOAuthenticator:\n"
        "        client_secret: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"))
    text = (folder / "cluster.yaml").read_text().replace("  - staging.values.yaml",
                                                          "  - staging.values.yaml\n  - enc-staging.secret.values.yaml")
    (folder / "cluster.yaml").write_text(text)
    code, out, _ = render(capsys, tmp_path, "alpha", "staging")
    assert code == 0, out
    assert ("         no key to decrypt enc-staging.secret.values.yaml: their keys were kept with placeholder values"
            in out.splitlines())


# --- fleet checks ----------------------------------------------------------------------------------


def test_two_daskhubs_side_by_side_render_clean(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["dask-a", "dask-b"])
    for hub in ("dask-a", "dask-b"):
        set_chart(folder, hub, "daskhub")
        # the local cluster's layer switches the gateway off (no images here); a hub may switch it on
        set_values(folder, hub, {"basehub": {"jupyterhub": {}, "dask-gateway": {"enabled": True}}})
    code, payload = render_json(capsys, tmp_path, "alpha", "dask-a", "dask-b")
    assert code == 0, payload["problems"]


def test_a_fixed_gateway_fullname_makes_two_daskhubs_collide_and_is_refused(tmp_path, capsys):
    # a cloud-like cluster: the local cluster's last layer switches the Dask Gateway off (no images here)
    folder = make_cluster(tmp_path, "alpha", ["dask-a", "dask-b"], provider="kubeconfig")
    for hub in ("dask-a", "dask-b"):
        set_chart(folder, hub, "daskhub")
        set_values(folder, hub, {"basehub": {"dask-gateway": {"enabled": True, "fullnameOverride": "dask-gateway"}}})
    code, payload = render_json(capsys, tmp_path, "alpha", "dask-a", "dask-b")
    assert code == 1
    shared = problems(payload, "shared-cluster-object")
    assert {(p["release"], p["kind"], p["name"]) for p in shared} >= {
        ("alpha/dask-b", "ClusterRole", "controller-dask-gateway"),
        ("alpha/dask-b", "ClusterRoleBinding", "traefik-dask-gateway")}
    p = next(p for p in shared if p["name"] == "controller-dask-gateway" and p["kind"] == "ClusterRole")
    assert p["message"] == ("ClusterRole controller-dask-gateway is also created by release alpha/dask-a: a "
                            "cluster-scoped object can belong to one release only (helm refuses the second install: "
                            "invalid ownership metadata)")


def test_deploy_refuses_the_colliding_daskhubs_before_anything_is_applied(scratch_cluster, tmp_path, capsys,
                                                                           monkeypatch):
    """The fleet check runs over the releases that will deploy (after the ledger has dropped the unchanged
    ones, which needs the cluster's records), and before anything is applied: a refused deploy changes nothing.
    A cloud-like cluster (kubeconfig, a real API server with no node): on the local cluster the Dask Gateway is
    switched off by its last layer, so nothing would collide there."""
    from tests.e2e.operate_repo import encrypt, make_age_key

    status = scratch_cluster.up().status
    assert status.healthy, status
    key, recipient = make_age_key(tmp_path)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    folder = make_cluster(tmp_path, "alpha", ["dask-a", "dask-b"], provider="kubeconfig")
    creds = folder / "enc-kubeconfig.secret.yaml"
    creds.write_text(Path(status.kubeconfig).read_text())
    encrypt(creds, recipient)
    for hub in ("dask-a", "dask-b"):
        set_chart(folder, hub, "daskhub")
        set_values(folder, hub, {"basehub": {"dask-gateway": {"enabled": True, "fullnameOverride": "dask-gateway"}}})
    code = run_app(app, ["--root", str(tmp_path), "deploy", "alpha", "--timeout", "5"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert err.splitlines()[0].startswith(
        "error: the fleet check refused this deploy, nothing was done: alpha/dask-b ClusterRole/"), err
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(status.kubeconfig))
    try:
        names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
        roles = [r.metadata.name for r in client.RbacAuthorizationV1Api(api).list_cluster_role().items]
    finally:
        api.close()
    assert not names & {"dask-a", "dask-b", "support"}, names  # no release's namespace was made
    assert not [r for r in roles if "dask-gateway" in r], roles

def test_an_ingress_claiming_another_hubs_domain_is_reported_with_the_missing_domain(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha")
    set_values(folder, "prod", {"jupyterhub": {"ingress": {"hosts": ["staging.alpha.example.org"], "tls": []}}})
    code, payload = render_json(capsys, tmp_path, "alpha", "staging", "prod")
    assert code == 1
    [shared] = problems(payload, "shared-ingress-path")
    assert (shared["release"], shared["kind"], shared["name"]) == ("alpha/prod", "Ingress", "jupyterhub")
    assert shared["message"].startswith("Ingress jupyterhub claims host staging.alpha.example.org path /")
    [missing] = problems(payload, "domain-not-served")
    assert missing["release"] == "alpha/prod"
    assert missing["message"] == ("the hub's domain prod.alpha.example.org is in none of its Ingress hosts "
                                  "(staging.alpha.example.org): it would not answer there")


def test_a_subchart_kube_version_that_excludes_the_cluster_is_found_though_helm_checks_only_the_top(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["lab"])
    # a chart of the repository's own, without a kubeVersion, over dask-gateway (>=1.25)
    chart = tmp_path / "helm-charts" / "gatewayonly"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "gatewayonly", "version": "0.1.0",
        "dependencies": [{"name": "dask-gateway", "version": "2024.1.0", "repository": "https://helm.dask.org/"}]}))
    set_chart(folder, "lab", "gatewayonly")
    set_values(folder, "lab", {})
    (folder / "cluster.yaml").write_text((folder / "cluster.yaml").read_text() + 'kubernetes_version: "1.24"\n')
    code, payload = render_json(capsys, tmp_path, "alpha", "lab")
    assert code == 1
    [p] = problems(payload, "kube-version-excluded")
    assert p["message"] == "chart dask-gateway 2024.1.0 requires Kubernetes >=1.25.0-0, and this cluster runs 1.24"
    # kubernetes-validate has no API schemas that old: said, as a warning (not an error)
    [warning] = problems(payload, "no-api-schemas")
    assert warning["severity"] == "warning"


def test_basehub_on_a_cluster_older_than_1_28_names_every_chart_that_excludes_it(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["staging"])
    (folder / "cluster.yaml").write_text((folder / "cluster.yaml").read_text() + 'kubernetes_version: "1.20"\n')
    code, payload = render_json(capsys, tmp_path, "alpha", "staging")
    assert code == 1
    assert [(p["release"], p["message"]) for p in problems(payload, "kube-version-excluded")] == [
        ("alpha/staging", "chart basehub 0.1.0 requires Kubernetes >=1.28.0-0, and this cluster runs 1.20"),
        ("alpha/staging", "chart binderhub-service 0.1.0-0.dev.git.336.hca79dc0 requires Kubernetes >=1.27.0-0, "
                          "and this cluster runs 1.20"),
        ("alpha/staging", "chart dask-gateway 2026.3.0 requires Kubernetes >=1.30.0-0, and this cluster runs 1.20"),
        ("alpha/staging", "chart jupyterhub 4.3.3 requires Kubernetes >=1.28.0-0, and this cluster runs 1.20"),
    ]


# --- bad input: each a clear problem naming the release and the file, exit 1, no traceback ---------------


def test_a_values_file_that_breaks_a_template_names_the_template_line(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["staging"])
    # on the local cluster its layer switches the in-cluster NFS server off (no NFS client here): NFS
    # homes with no address left (validate, which reads the hub's files only, cannot see it)
    set_values(folder, "staging", {"nfs": {"enabled": True, "pv": {"enabled": True}}})
    code, payload = render_json(capsys, tmp_path, "alpha", "staging")
    assert code == 1
    [p] = problems(payload)
    assert (p["release"], p["code"], p["file"]) == ("alpha/staging", "template-failed", "basehub/templates/nfs.yaml:9")
    assert p["message"].endswith("nfs.pv.serverIP is required when nfs.enabled and nfs.pv.enabled are true and the "
                                 "in-cluster NFS server is off (jupyterhub-home-nfs.enabled: false): the address of "
                                 "the NFS server")
    assert p["hint"] == "the values (staging.values.yaml) break this template line"


def test_a_subchart_schema_violation_names_the_subchart_and_the_key(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["staging"])
    set_values(folder, "staging", {"jupyterhub": {"proxy": {"chp": {"replicas": 2}}}})
    code, payload = render_json(capsys, tmp_path, "alpha", "staging")
    assert code == 1
    [p] = problems(payload)
    assert (p["release"], p["code"], p["file"]) == ("alpha/staging", "values-schema", "staging.values.yaml")
    assert p["message"].startswith("values refused by the charts' schemas: jupyterhub:")
    assert "proxy.chp: Additional property replicas is not allowed" in p["message"]


def own_chart(root: Path, name: str, template: str, deps: list[dict] | None = None) -> Path:
    chart = root / "helm-charts" / name
    (chart / "templates").mkdir(parents=True)
    meta = {"apiVersion": "v2", "name": name, "version": "0.1.0"}
    if deps:
        meta["dependencies"] = deps
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    (chart / "values.yaml").write_text("text: hello\n")
    (chart / "templates" / "thing.yaml").write_text(textwrap.dedent(template))
    return chart


def test_a_manifest_that_is_not_valid_yaml_names_the_template(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["lab"])
    own_chart(tmp_path, "broken", """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: thing
        data:
          text: {{ .Values.text }}
        """)
    set_chart(folder, "lab", "broken")
    set_values(folder, "lab", {"text": "a: [unclosed"})
    code, payload = render_json(capsys, tmp_path, "alpha", "lab")
    assert code == 1
    [p] = [p for p in problems(payload) if p["code"] == "invalid-manifest"]
    assert (p["release"], p["file"]) == ("alpha/lab", "broken/templates/thing.yaml")
    assert p["message"].startswith("YAML parse error on broken/templates/thing.yaml")


def test_an_object_the_kubernetes_api_would_refuse_is_named_with_the_field(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["lab"])
    own_chart(tmp_path, "typo", """\
        apiVersion: v1
        kind: Service
        metadata:
          name: thing
        spec:
          prots:
            - port: 80
        """)
    set_chart(folder, "lab", "typo")
    set_values(folder, "lab", {})
    code, payload = render_json(capsys, tmp_path, "alpha", "lab")
    assert code == 1
    schema = problems(payload, "kubernetes-schema")
    assert [(p["release"], p["kind"], p["name"], p["file"]) for p in schema] == [
        ("alpha/lab", "Service", "thing", "typo/templates/thing.yaml")]
    assert "'prots'" in schema[0]["message"]


def test_an_api_version_kubernetes_1_34_does_not_serve_is_refused(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["lab"])
    own_chart(tmp_path, "old", """\
        apiVersion: policy/v1beta1
        kind: PodDisruptionBudget
        metadata:
          name: thing
        spec:
          minAvailable: 1
        """)
    set_chart(folder, "lab", "old")
    set_values(folder, "lab", {})
    code, payload = render_json(capsys, tmp_path, "alpha", "lab")
    assert code == 1
    [p] = problems(payload, "api-not-served")
    assert p["message"] == "policy/v1beta1 PodDisruptionBudget is not served by Kubernetes 1.34"


def test_a_dependency_missing_from_the_repository_names_the_versions_it_holds(tmp_path, capsys, chart_repo):
    folder = make_cluster(tmp_path, "alpha", ["lab"])
    chart = own_chart(tmp_path, "wants", "", deps=[
        {"name": "jupyterhub", "version": "9.9.9", "repository": "https://hub.jupyter.org/helm-chart/"}])
    set_chart(folder, "lab", "wants")
    set_values(folder, "lab", {})
    code, payload = render_json(capsys, tmp_path, "alpha", "lab")
    assert code == 1
    [p] = problems(payload)
    assert (p["release"], p["code"], p["file"]) == ("alpha/lab", "chart-unavailable", str(chart / "Chart.yaml"))
    assert p["message"].endswith(f"depends on jupyterhub 9.9.9, but the chart repository {chart_repo} holds "
                                 "jupyterhub 4.3.3, 4.1.0, 2.0.0 only")


def test_a_corrupt_archive_in_the_repository_is_a_problem_naming_it(tmp_path, capsys, monkeypatch):
    helm = require_tool("helm")
    repo = tmp_path / "repo"
    src = own_chart(tmp_path / "src", "thing", "")
    runner = ProcessRunner()
    assert runner.run([helm, "package", src, "--destination", repo], timeout=60).ok
    assert runner.run([helm, "repo", "index", repo], timeout=60).ok
    (repo / "thing-0.1.0.tgz").write_bytes(b"\x1f\x8b not really gzip")
    monkeypatch.setenv("DEPLOYER_CHART_REPO", str(repo))
    folder = make_cluster(tmp_path, "alpha", ["lab"])
    own_chart(tmp_path, "uses-thing", "", deps=[{"name": "thing", "version": "0.1.0", "repository": "https://x.example/"}])
    set_chart(folder, "lab", "uses-thing")
    set_values(folder, "lab", {})
    code, payload = render_json(capsys, tmp_path, "alpha", "lab")
    assert code == 1
    [p] = problems(payload)
    assert (p["release"], p["code"]) == ("alpha/lab", "chart-unavailable")
    assert p["message"].startswith(f"{repo / 'thing-0.1.0.tgz'}: corrupt or replaced archive")


def repository_without(tmp_path: Path, chart_repo: Path, name: str) -> Path:
    """A chart repository holding every chart of ../shared/charts but `name`."""
    repo = tmp_path / "partial-repo"
    repo.mkdir()
    for archive in chart_repo.glob("*.tgz"):
        if not archive.name.startswith(f"{name}-"):
            (repo / archive.name).symlink_to(archive)
    assert ProcessRunner().run([require_tool("helm"), "repo", "index", repo], timeout=120).ok
    return repo


def test_a_switch_turned_on_whose_chart_the_repository_lacks_is_refused_naming_file_key_and_fix(
        tmp_path, capsys, monkeypatch, chart_repo):
    repo = repository_without(tmp_path, chart_repo, "binderhub-service")
    monkeypatch.setenv("DEPLOYER_CHART_REPO", str(repo))
    # a cloud cluster: on a local one the last local layer switches binderhub-service off (no image here)
    folder = make_cluster(tmp_path, "alpha", ["staging", "prod"], provider="kubeconfig")
    set_values(folder, "staging", {"binderhub-service": {"enabled": True, "config": {"BinderHub": {
        "image_prefix": "quay.io/org/staging-"}}}})
    code, payload = render_json(capsys, tmp_path, "alpha")
    assert code == 1
    [p] = problems(payload)
    assert (p["release"], p["code"]) == ("alpha/staging", "switched-on-chart-missing")
    assert p["message"] == (f"alpha/staging: `binderhub-service.enabled` (set in staging.values.yaml) switches on "
                            f"binderhub-service 0.1.0-0.dev.git.336.hca79dc0 (the chart repository {repo} holds no "
                            "binderhub-service)")
    assert p["hint"] == ("add the chart to the repository (binderhub-service-<version>.tgz, then `helm repo index`), "
                         "pin a version it holds in the chart's Chart.yaml, or set `binderhub-service.enabled: false`")
    # the hub that keeps it off renders without it
    assert {r["id"]: r["objects"] > 0 for r in payload["clusters"][0]["releases"]}["alpha/prod"]


def test_the_nfs_server_on_with_another_servers_address_is_refused_naming_file_key_and_fix(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["staging"])
    set_values(folder, "staging", {"nfs": {"enabled": True, "pv": {"enabled": True, "serverIP": "fs-1.efs.example"}}})
    code, payload = render_json(capsys, tmp_path, "alpha", "staging")
    assert code == 1
    [p, skipped] = problems(payload)
    assert (p["code"], p["file"]) == ("nfs-server-conflict", "config/clusters/alpha/staging.values.yaml:5:5")
    assert skipped["code"] == "not-rendered"
    assert "`nfs.pv.serverIP` points at another server (fs-1.efs.example)" in p["message"]
    assert p["hint"].startswith("remove `nfs.pv.serverIP`")


def test_a_binderhub_without_an_image_registry_is_refused_naming_file_key_and_fix(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["staging"])
    set_values(folder, "staging", {"binderhub-service": {"enabled": True}})
    code, payload = render_json(capsys, tmp_path, "alpha", "staging")
    assert code == 1
    [validate_says, skipped] = problems(payload)
    assert (validate_says["code"], validate_says["file"]) == ("binderhub-registry-missing",
                                                              "config/clusters/alpha/staging.values.yaml:2:3")
    assert validate_says["hint"].startswith("set `binderhub-service.config.BinderHub.image_prefix`")
    assert skipped["code"] == "not-rendered"  # the chart refuses it too: tests/e2e/test_charts.py


def test_an_unknown_cluster_is_a_usage_error(tmp_path, capsys):
    make_cluster(tmp_path, "alpha")
    code, _, err = render(capsys, tmp_path, "nope")
    assert code == 2
    assert err.splitlines()[0] == "error: no cluster named `nope` in config/clusters"


def test_the_example_fleet_renders_clean_and_decrypts_in_memory_when_the_key_is_there(capsys, monkeypatch):
    from tests.conftest import REPO

    require_tool("sops")
    code, payload = render_json(capsys, REPO, "local")
    assert code == 0, payload["problems"]
    without = {r["id"]: r["placeholder_values_from"] for r in payload["clusters"][0]["releases"]}
    assert without["local/staging"] == ["enc-staging.secret.values.yaml"]
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(REPO / "config" / "example-age-key.txt"))
    code, payload = render_json(capsys, REPO, "local")
    assert code == 0, payload["problems"]
    assert all(r["placeholder_values_from"] == [] for r in payload["clusters"][0]["releases"])
    # and nothing decrypted reaches the output
    assert "ENC[" not in json.dumps(payload)


# --- secrets in structured output --------------------------------------------------------------------

QUOTES_SECRET = "k9'Xq\"2v!Zr#8Lm@pW"  # its Python repr differs from its JSON escape


def test_a_secret_the_schema_check_quotes_is_redacted_in_json_output_too(tmp_path, capsys, monkeypatch):
    import base64
    import subprocess

    from tests.conftest import REPO

    key = REPO / "config" / "example-age-key.txt"
    recipient = next(ln.split(": ")[1] for ln in key.read_text().splitlines() if "public key" in ln)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    folder = make_cluster(tmp_path, "alpha", ["lab"])
    own_chart(tmp_path, "quoting", """\
        apiVersion: v1
        kind: Pod
        metadata:
          name: thing
        spec:
          hostNetwork: {{ .Values.password | quote }}
          containers:
            - name: c
              image: busybox
        """)
    set_chart(folder, "lab", "quoting")
    set_values(folder, "lab", {})
    secret = folder / "enc-lab.secret.values.yaml"
    secret.write_text(yaml.safe_dump({"password": QUOTES_SECRET}))
    subprocess.run([str(require_tool("sops")), "--disable-version-check", "encrypt", "--age", recipient, "--in-place",
                    str(secret)], check=True, capture_output=True, timeout=60)
    text = (folder / "cluster.yaml").read_text().replace("  - lab.values.yaml", "  - lab.values.yaml\n  - enc-lab.secret.values.yaml")
    (folder / "cluster.yaml").write_text(text)
    for fmt in ("text", "json"):
        code, out, err = render(capsys, tmp_path, "alpha", "lab", "--output", fmt)
        assert code == 1, out + err
        assert "[REDACTED]" in out + err and "is not of type 'boolean'" in out + err, out + err
        for piece in (QUOTES_SECRET, "Zr#8Lm@pW", base64.b64encode(QUOTES_SECRET.encode()).decode()[:12]):
            assert piece not in out + err, (fmt, out + err)


def _bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_an_encrypted_file_validate_refused_never_reaches_sops_and_its_release_is_not_rendered(tmp_path, capsys,
                                                                                               monkeypatch):
    import time

    from tests.conftest import REPO

    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(REPO / "config" / "example-age-key.txt"))  # sops would be used
    folder = make_cluster(tmp_path, "alpha", ["staging", "prod"])
    (folder / "enc-staging.secret.values.yaml").write_text(_bomb() + encrypted_yaml(
        "jupyterhub:\n  hub:\n    config:\n      x: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"
    ).replace("    unencrypted_suffix: _unencrypted\n", "    unencrypted_suffix: _unencrypted\n    age:\n"
              "    - recipient: age1e40mn5ep7qnj7heyqmnh33mdmv0spy7gf97xkzyy4qv7amlrscfsthx4rt\n"))
    text = (folder / "cluster.yaml").read_text().replace("  - staging.values.yaml",
                                                          "  - staging.values.yaml\n  - enc-staging.secret.values.yaml")
    (folder / "cluster.yaml").write_text(text)
    started = time.monotonic()
    code, payload = render_json(capsys, tmp_path, "alpha")
    assert code == 1
    assert time.monotonic() - started < 60
    assert [p["code"] for p in problems(payload, "alias-bomb")] == ["alias-bomb"]
    (skipped,) = problems(payload, "not-rendered")
    assert skipped["release"] == "alpha/staging"
    assert skipped["message"] == "not rendered: validate refused enc-staging.secret.values.yaml"
    releases = {r["id"]: r for r in payload["clusters"][0]["releases"]}
    assert releases["alpha/staging"]["objects"] == 0 and releases["alpha/prod"]["objects"] > 10
    assert not problems(payload, "values-unreadable")


def test_a_release_whose_values_file_failed_validation_is_not_rendered(tmp_path, capsys):
    folder = make_cluster(tmp_path, "alpha", ["staging"])
    (folder / "enc-staging.secret.values.yaml").write_text("jupyterhub:\n  hub:\n    config:\n      x: clear\n")
    text = (folder / "cluster.yaml").read_text().replace("  - staging.values.yaml",
                                                          "  - staging.values.yaml\n  - enc-staging.secret.values.yaml")
    (folder / "cluster.yaml").write_text(text)
    code, payload = render_json(capsys, tmp_path, "alpha", "staging")
    assert code == 1
    assert [p["code"] for p in problems(payload) if p["severity"] == "error"] == ["plaintext-secret", "not-rendered"]
    assert payload["clusters"][0]["releases"][0]["objects"] == 0
