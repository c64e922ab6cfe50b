"""The user test's pure parts: scopes, the kernel protocol, and the chart values it needs."""

from __future__ import annotations

from deployer.run.user_test import (EXPECTED_OUTPUT, KernelOutput, absorb, execute_request, service_values,
                                    user_scopes)


def test_the_temporary_users_token_reaches_its_own_server_only():
    assert user_scopes("deployer-test-1a2b3c4d") == ["servers!user=deployer-test-1a2b3c4d",
                                                     "access:servers!user=deployer-test-1a2b3c4d"]


def test_the_chart_registers_the_user_test_service_with_its_role():
    assert service_values() == {"hub": {
        "services": {"deployer-user-test": {"display": False}},
        "loadRoles": {"deployer-user-test": {
            "description": "deployer's user test: a temporary user, its server and kernel",
            "scopes": ["admin:users", "tokens", "servers", "access:servers"],
            "services": ["deployer-user-test"]}},
    }}


def test_an_execute_request_is_a_jupyter_message_on_the_shell_channel():
    msg_id, msg = execute_request("print(1)", "s1")
    assert msg["header"]["msg_id"] == msg_id
    assert (msg["header"]["msg_type"], msg["header"]["session"], msg["channel"]) == ("execute_request", "s1", "shell")
    assert msg["content"]["code"] == "print(1)"
    assert msg["content"]["allow_stdin"] is False


def _msg(kind: str, parent: str, **content) -> dict:
    return {"header": {"msg_type": kind}, "parent_header": {"msg_id": parent}, "content": content}


def test_output_is_collected_from_the_answers_to_our_request_only():
    out = KernelOutput()
    absorb(out, _msg("status", "m1", execution_state="busy"), "m1")
    absorb(out, _msg("stream", "other", name="stdout", text="not ours\n"), "m1")
    absorb(out, _msg("stream", "m1", name="stdout", text="42 "), "m1")
    absorb(out, _msg("stream", "m1", name="stderr", text="warning\n"), "m1")
    absorb(out, _msg("stream", "m1", name="stdout", text="3\n"), "m1")
    assert not out.done
    absorb(out, _msg("execute_reply", "m1", status="ok"), "m1")
    assert (out.stdout.strip(), out.error, out.done) == (EXPECTED_OUTPUT, "", True)


def test_a_kernel_error_is_reported_with_its_name_and_value():
    out = KernelOutput()
    absorb(out, _msg("error", "m1", ename="NameError", evalue="name 'x' is not defined", traceback=[]), "m1")
    absorb(out, _msg("execute_reply", "m1", status="error", ename="NameError", evalue="name 'x' is not defined"), "m1")
    assert (out.error, out.done) == ("NameError: name 'x' is not defined", True)
