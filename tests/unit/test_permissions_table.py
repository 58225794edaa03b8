"""The action table covers every boto3 call of qualys_lambda, found by reading the code."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

from tests.permissions import PERMISSIONS, covered_calls

PACKAGE = Path(__file__).parents[2] / "scanner-lambda" / "qualys_lambda"
# Methods that build a client; their first argument names the service.
CLIENT_FACTORIES = frozenset({"client", "home_client"})
# Clients handed to a function under a parameter or attribute name: that name says which service.
RECEIVERS = {
    "lambda_client": "lambda",
    "tagging": "resourcegroupstaggingapi",
    "dynamodb": "dynamodb",
    "_client": "secretsmanager",
    "sqs": "sqs",
    "sns": "sns",
    "s3": "s3",
    "events": "events",
    "securityhub": "securityhub",
    "organizations": "organizations",
}
# Objects of this package whose method names happen to match an AWS operation (Scanner.scan).
NOT_CLIENTS = frozenset({"scanner"})
# The IAM prefix where it is not botocore's service name (Service Authorization Reference).
IAM_PREFIX = {"resourcegroupstaggingapi": "tag"}
# Operations authorised under another action (Amazon SQS API Reference: SendMessageBatch).
IAM_ACTION = {"sqs.send_message_batch": "sqs:SendMessage"}


def _services_in_code(trees: dict[str, ast.Module]) -> set[str]:
    return {
        node.args[0].value
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) in CLIENT_FACTORIES
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def _receiver_service(receiver: ast.expr) -> str | None:
    if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute | ast.Name):
        name = receiver.func.attr if isinstance(receiver.func, ast.Attribute) else receiver.func.id
        if name in CLIENT_FACTORIES and receiver.args and isinstance(receiver.args[0], ast.Constant):
            return str(receiver.args[0].value)
    name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
    return RECEIVERS.get(name)


def boto3_calls() -> dict[str, list[str]]:
    """service.method -> where it is called, for every AWS operation called in the package."""
    trees = {path.name: ast.parse(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}
    session = botocore.session.get_session()
    operations: dict[str, set[str]] = defaultdict(set)
    for service in _services_in_code(trees):
        for operation in session.get_service_model(service).operation_names:
            operations[xform_name(operation)].add(service)
    found: dict[str, list[str]] = defaultdict(list)
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method, receiver = node.func.attr, node.func.value
            if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            elif method not in operations:
                continue
            if isinstance(receiver, ast.Name) and receiver.id in NOT_CLIENTS:
                continue
            service = _receiver_service(receiver)
            where = f"{module}:{node.lineno}"
            assert service, f"{where}: {ast.unparse(receiver)}.{method}: add the receiver to RECEIVERS or NOT_CLIENTS"
            assert service in operations[method], f"{where}: {method} is not an operation of {service}"
            found[f"{service}.{method}"].append(where)
    return dict(found)


def iam_action(call: str) -> str:
    """The IAM action a boto3 call (service.method) is authorised as."""
    if call in IAM_ACTION:
        return IAM_ACTION[call]
    service, method = call.split(".")
    model = botocore.session.get_session().get_service_model(service)
    (operation,) = [op for op in model.operation_names if xform_name(op) == method]
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


CALLS = boto3_calls()


def test_reading_the_code_finds_the_calls_of_each_destination() -> None:
    # A guard on the reader itself: if it stopped finding calls, the coverage test below would pass empty.
    for call in ("lambda.get_function", "s3.put_object", "securityhub.get_findings", "sqs.send_message_batch"):
        assert call in CALLS


@pytest.mark.parametrize("call", sorted(CALLS))
def test_permissions_table_authorises_every_boto3_call(call: str) -> None:
    rows = [p for p in PERMISSIONS if call in p.calls]
    assert rows, f"{call} ({', '.join(CALLS[call])}) has no row in tests.permissions.PERMISSIONS"
    assert {p.action for p in rows} == {iam_action(call)}


def test_permissions_table_names_only_calls_the_code_makes() -> None:
    assert covered_calls() - set(CALLS) == set()
