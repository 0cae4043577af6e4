"""REST API Lambda authorizers guard their methods as on AWS (pharmaguard_localstack.authorizers)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import requests
from conftest import ENDPOINT, REGION, client, create_function

from pharmaguard_localstack.authorizers import (
    ALLOW,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    MalformedAnswer,
    evaluate_policy,
    parse_answer,
)

STAGE = "test"
ACCOUNT = "000000000000"
STATE_DIR = Path(os.environ.get("PHARMAGUARD_STATE_DIR") or Path(__file__).resolve().parents[2] / ".state")

# A Lambda authorizer in bash. It records every event, takes the token from a TOKEN event
# (authorizationToken) or a REQUEST event (the X-Api-Token header) and answers by its prefix:
#   allow-<name>   Allow execute-api:Invoke on exactly the methodArn it was called for, principalId <name>,
#                  context {"role": <name>, "org": "pharmaguard", "n": 1, "admin": false}
#   wild-<name>    Allow execute-api:* on <api>/*/GET/*, and Deny <api>/*/GET/ord?rs
#   deny...        Deny on <api>/*
#   unauthorized   fails with the error message "Unauthorized"
#   brokenctx      Allow, but a context value is an object (API Gateway refuses that)
#   anything else  ("broken") an answer without policyDocument
AUTHORIZER_BOOTSTRAP = r"""#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
field() { printf '%s' "$event" | sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p"; }
while true; do
  headers=$(mktemp)
  event=$(curl -sS -D "$headers" "$api/invocation/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | tr -d '\r' | cut -d' ' -f2)
  rm -f "$headers"
  printf '%s\n' "$event" | tr -d '\n' >>"$RECORD_FILE" && echo >>"$RECORD_FILE"
  arn=$(field methodArn)
  api_arn=${arn%%/*}
  token=$(field authorizationToken)
  [ -n "$token" ] || token=$(field X-Api-Token)
  allow_this=$(printf '{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "%s"}' "$arn")
  case "$token" in
    allow-*)
      name=${token#allow-}
      answer=$(printf '{"principalId": "%s", "policyDocument": {"Version": "2012-10-17", "Statement": [%s]}, "context": {"role": "%s", "org": "pharmaguard", "n": 1, "admin": false}}' "$name" "$allow_this" "$name") ;;
    wild-*)
      answer=$(printf '{"principalId": "%s", "policyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["execute-api:*"], "Resource": ["%s/*/GET/*"]}, {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "%s/*/GET/ord?rs"}]}}' "${token#wild-}" "$api_arn" "$api_arn") ;;
    deny*)
      answer=$(printf '{"principalId": "mallory", "policyDocument": {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "%s/*"}}}' "$api_arn") ;;
    unauthorized*)
      curl -sS -X POST "$api/invocation/$id/error" -d '{"errorType": "Error", "errorMessage": "Unauthorized"}' >/dev/null
      continue ;;
    brokenctx*)
      answer=$(printf '{"principalId": "x", "policyDocument": {"Version": "2012-10-17", "Statement": [%s]}, "context": {"nested": {"a": 1}}}' "$allow_this") ;;
    *)
      answer='{"principalId": "x"}' ;;
  esac
  curl -sS -X POST "$api/invocation/$id/response" --data-binary "$answer" >/dev/null
done
"""

# An AWS_PROXY integration in bash: answers 200 with the event it received as the body.
ECHO_BOOTSTRAP = r"""#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  headers=$(mktemp)
  event=$(curl -sS -D "$headers" "$api/invocation/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | tr -d '\r' | cut -d' ' -f2)
  rm -f "$headers"
  body=$(printf '%s' "$event" | tr -d '\n' | sed 's/\\/\\\\/g; s/"/\\"/g')
  printf '{"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "%s"}' "$body" |
    curl -sS -X POST "$api/invocation/$id/response" --data-binary @- >/dev/null
done
"""

TOKEN_PATTERN = "(allow|wild)-[a-z0-9]+|deny[a-z0-9]*|unauthorized|broken(ctx)?"


class Api:
    """A deployed REST API: /items (GET, POST), /orders (GET) and /nocache (GET) behind a TOKEN
    authorizer (the last with caching off), /devices/{id} (GET) behind a REQUEST authorizer and
    /public (GET) without authorizer, all proxying to the echo function; and /mock (GET), a MOCK
    integration behind the TOKEN authorizer."""

    def __init__(self, api_id: str, authorizer, echo):
        self.id = api_id
        self.authorizer = authorizer
        self.echo = echo

    def url(self, path: str) -> str:
        return f"{ENDPOINT}/restapis/{self.id}/{STAGE}/_user_request_/{path.lstrip('/')}"

    def call(self, path: str, method: str = "GET", **kwargs) -> requests.Response:
        return requests.request(method, self.url(path), timeout=30, **kwargs)

    def method_arn(self, method: str, path: str) -> str:
        return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{self.id}/{STAGE}/{method}/{path.lstrip('/')}"

    def authorizer_calls(self, token: str | None = None) -> list[dict]:
        events = self.authorizer.records()
        if token is None:
            return events
        return [
            e
            for e in events
            if e.get("authorizationToken") == token or (e.get("headers") or {}).get("X-Api-Token") == token
        ]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("authorizers")
    lam, apigw = client("lambda"), client("apigateway")
    authorizer = create_function(folder / "authorizer.jsonl", AUTHORIZER_BOOTSTRAP, prefix="authorizer-test")
    echo = create_function(folder / "echo.jsonl", ECHO_BOOTSTRAP, prefix="authorizer-test-echo")
    api_id = apigw.create_rest_api(name=f"authorizer-test-{uuid.uuid4().hex[:8]}")["id"]
    try:
        uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{{}}/invocations"

        def create_authorizer(name: str, **settings) -> str:
            return apigw.create_authorizer(
                restApiId=api_id, name=name, authorizerUri=uri.format(authorizer.arn), **settings
            )["id"]

        token_auth = create_authorizer(
            "token",
            type="TOKEN",
            identitySource="method.request.header.Authorization",
            identityValidationExpression=TOKEN_PATTERN,
            authorizerResultTtlInSeconds=300,
        )
        nocache_auth = create_authorizer(
            "token-nocache",
            type="TOKEN",
            identitySource="method.request.header.Authorization",
            authorizerResultTtlInSeconds=0,
        )
        request_auth = create_authorizer(
            "request",
            type="REQUEST",
            identitySource="method.request.header.X-Api-Token, method.request.querystring.site",
            authorizerResultTtlInSeconds=300,
        )
        root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")

        def resource(parent: str, part: str) -> str:
            return apigw.create_resource(restApiId=api_id, parentId=parent, pathPart=part)["id"]

        def method(resource_id: str, http_method: str, authorizer_id: str | None) -> None:
            auth = {"authorizationType": "CUSTOM", "authorizerId": authorizer_id} if authorizer_id else {"authorizationType": "NONE"}
            apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=http_method, **auth)
            apigw.put_integration(
                restApiId=api_id,
                resourceId=resource_id,
                httpMethod=http_method,
                type="AWS_PROXY",
                integrationHttpMethod="POST",
                uri=uri.format(echo.arn),
            )

        items = resource(root, "items")
        method(items, "GET", token_auth)
        method(items, "POST", token_auth)
        method(resource(root, "orders"), "GET", token_auth)
        method(resource(root, "nocache"), "GET", nocache_auth)
        method(resource(resource(root, "devices"), "{id}"), "GET", request_auth)
        method(resource(root, "public"), "GET", None)
        mock = resource(root, "mock")  # a MOCK integration whose response template reads $context.authorizer
        apigw.put_method(
            restApiId=api_id, resourceId=mock, httpMethod="GET", authorizationType="CUSTOM", authorizerId=token_auth
        )
        apigw.put_integration(
            restApiId=api_id,
            resourceId=mock,
            httpMethod="GET",
            type="MOCK",
            requestTemplates={"application/json": '{"statusCode": 200}'},
        )
        apigw.put_method_response(restApiId=api_id, resourceId=mock, httpMethod="GET", statusCode="200")
        apigw.put_integration_response(
            restApiId=api_id,
            resourceId=mock,
            httpMethod="GET",
            statusCode="200",
            responseTemplates={
                "application/json": '{"principalId": "$context.authorizer.principalId", "org": "$context.authorizer.org"}'
            },
        )
        apigw.create_deployment(restApiId=api_id, stageName=STAGE)
        yield Api(api_id, authorizer, echo)
    finally:
        apigw.delete_rest_api(restApiId=api_id)
        lam.delete_function(FunctionName=authorizer.name)
        lam.delete_function(FunctionName=echo.name)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# -- against the local stack -------------------------------------------------------------------


def test_a_missing_or_invalid_token_is_401_without_calling_the_authorizer(api):
    before = len(api.authorizer_calls())

    for headers in ({}, {"Authorization": ""}, {"Authorization": "not-a-valid-token"}):
        response = api.call("items", headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json() == {"message": "Unauthorized"}
        assert response.headers["x-amzn-ErrorType"] == "UnauthorizedException"

    assert len(api.authorizer_calls()) == before, "the authorizer must not be invoked"
    assert not api.echo.records()


def test_the_authorizer_answering_unauthorized_is_401(api):
    response = api.call("items", headers={"Authorization": "unauthorized"})

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert api.authorizer_calls("unauthorized")


def test_an_explicit_deny_is_403(api):
    token = unique("deny")
    response = api.call("items", headers={"Authorization": token})

    assert response.status_code == 403
    assert response.json() == {"Message": "User is not authorized to access this resource with an explicit deny"}
    assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_allow_passes_the_principal_and_context_to_the_integration(api):
    name = unique("alice")
    response = api.call("items", headers={"Authorization": f"allow-{name}"})

    assert response.status_code == 200, response.text
    event = response.json()
    authorizer = event["requestContext"]["authorizer"]
    assert authorizer["principalId"] == name
    # API Gateway stringifies the context values
    assert {k: authorizer[k] for k in ("role", "org", "n", "admin")} == {
        "role": name,
        "org": "pharmaguard",
        "n": "1",
        "admin": "false",
    }
    assert isinstance(authorizer["integrationLatency"], int)
    assert event["headers"]["Authorization"] == f"allow-{name}"

    [call] = api.authorizer_calls(f"allow-{name}")
    assert call == {"type": "TOKEN", "authorizationToken": f"allow-{name}", "methodArn": api.method_arn("GET", "items")}


def test_the_authorizer_context_reaches_mapping_templates(api):
    name = unique("frank")
    response = api.call("mock", headers={"Authorization": f"allow-{name}"})

    assert response.status_code == 200, response.text
    assert response.json() == {"principalId": name, "org": "pharmaguard"}


def test_a_cached_policy_is_evaluated_against_each_method_arn(api):
    token = f"allow-{unique('bob')}"
    assert api.call("items", headers={"Authorization": token}).status_code == 200
    assert api.call("items", headers={"Authorization": token}).status_code == 200

    # the cached policy allows only GET /items, as on AWS
    response = api.call("orders", headers={"Authorization": token})
    assert response.status_code == 403
    assert response.json() == {"Message": "User is not authorized to access this resource"}

    assert len(api.authorizer_calls(token)) == 1, "the answer is cached for the token"


def test_wildcards_and_an_explicit_deny_winning_over_an_allow(api):
    token = unique("wild-")
    assert api.call("items", headers={"Authorization": token}).status_code == 200  # Allow .../GET/*

    denied = api.call("orders", headers={"Authorization": token})  # Deny .../GET/ord?rs beats the Allow
    assert denied.status_code == 403
    assert denied.json()["Message"].endswith("with an explicit deny")

    not_allowed = api.call("items", "POST", headers={"Authorization": token}, data=b"{}")  # nothing allows POST
    assert not_allowed.status_code == 403
    assert not_allowed.json() == {"Message": "User is not authorized to access this resource"}

    assert len(api.authorizer_calls(token)) == 1


@pytest.mark.parametrize("token", ["broken", "brokenctx"])
def test_an_invalid_authorizer_answer_is_500(api, token):
    response = api.call("items", headers={"Authorization": token})

    assert response.status_code == 500
    assert response.json() == {"message": None}
    assert response.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"


def test_a_method_without_authorizer_is_not_guarded(api):
    before = len(api.authorizer_calls())
    response = api.call("public")

    assert response.status_code == 200, response.text
    assert "authorizer" not in response.json()["requestContext"]
    assert len(api.authorizer_calls()) == before


def test_a_ttl_of_zero_calls_the_authorizer_every_time(api):
    token = f"allow-{unique('dave')}"
    for _ in range(2):
        # the answer allows only the methodArn it was computed for: /nocache
        assert api.call("nocache", headers={"Authorization": token}).status_code == 200

    assert len(api.authorizer_calls(token)) == 2


def test_a_request_authorizer_gets_the_request_and_guards_the_method(api):
    token = f"allow-{unique('carol')}"
    before = len(api.authorizer_calls())

    # caching is on, so every identity source is required
    missing = api.call("devices/d-1", headers={"X-Api-Token": token})
    assert missing.status_code == 401
    assert missing.json() == {"message": "Unauthorized"}
    assert len(api.authorizer_calls()) == before

    response = api.call("devices/d-1", headers={"X-Api-Token": token}, params={"site": "berlin"})
    assert response.status_code == 200, response.text
    assert response.json()["requestContext"]["authorizer"]["principalId"] == token.removeprefix("allow-")
    assert response.json()["pathParameters"] == {"id": "d-1"}

    [call] = api.authorizer_calls(token)
    assert call["type"] == "REQUEST"
    assert call["methodArn"] == api.method_arn("GET", "devices/d-1")
    assert call["resource"] == "/devices/{id}"
    assert call["path"] == "/devices/d-1"
    assert call["httpMethod"] == "GET"
    assert call["headers"]["X-Api-Token"] == token
    assert call["multiValueHeaders"]["X-Api-Token"] == [token]
    assert call["queryStringParameters"] == {"site": "berlin"}
    assert call["multiValueQueryStringParameters"] == {"site": ["berlin"]}
    assert call["pathParameters"] == {"id": "d-1"}
    assert call["requestContext"]["resourcePath"] == "/devices/{id}"
    assert call["requestContext"]["stage"] == STAGE
    assert call["requestContext"]["apiId"] == api.id
    assert "authorizer" not in call["requestContext"]

    # the cache key is made of all identity sources
    assert api.call("devices/d-1", headers={"X-Api-Token": token}, params={"site": "berlin"}).status_code == 200
    assert len(api.authorizer_calls(token)) == 1
    assert api.call("devices/d-1", headers={"X-Api-Token": token}, params={"site": "hamburg"}).status_code == 200
    assert len(api.authorizer_calls(token)) == 2


def test_decisions_are_logged_without_the_token(api):
    log = STATE_DIR / "logs" / "localstack.log"
    if not log.is_file():
        pytest.skip(f"no LocalStack log at {log}")
    name = unique("erin")
    token = f"allow-{name}"
    assert api.call("items", headers={"Authorization": token}).status_code == 200

    deadline = time.monotonic() + 5
    lines: list[str] = []
    while time.monotonic() < deadline and not lines:
        lines = [line for line in log.read_text(errors="replace").splitlines() if "pharmaguard.authorizer" in line]
        lines = [line for line in lines if f"principalId={name}" in line]
        time.sleep(0.2)
    assert lines, "no decision logged"
    assert "GET /items" in lines[0] and "allow" in lines[0]
    assert not any(token in line for line in lines)


# -- the policy evaluation alone ---------------------------------------------------------------

ARN = "arn:aws:execute-api:eu-central-1:000000000000:abc123/prod/GET/shipments/42"


@pytest.mark.parametrize(
    ("statements", "decision"),
    [
        ([], IMPLICIT_DENY),
        ([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN}], ALLOW),
        ([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN + "/x"}], IMPLICIT_DENY),
        ([{"Effect": "Allow", "Action": "execute-api:*", "Resource": "arn:aws:execute-api:*:*:abc123/*"}], ALLOW),
        ([{"Effect": "Allow", "Action": "*", "Resource": "*"}], ALLOW),
        ([{"Effect": "Allow", "Action": "EXECUTE-API:invoke", "Resource": ARN}], ALLOW),
        ([{"Effect": "Allow", "Action": "execute-api:ManageConnections", "Resource": ARN}], IMPLICIT_DENY),
        ([{"Effect": "Allow", "Action": ["s3:*", "execute-api:Invoke"], "Resource": ["x", ARN]}], ALLOW),
        ([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN.replace("42", "4?")}], ALLOW),
        ([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN.replace("42", "?")}], IMPLICIT_DENY),
        ([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN.replace("/prod/", "/Prod/")}], IMPLICIT_DENY),
        (
            [
                {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"},
                {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "*/GET/shipments/*"},
            ],
            EXPLICIT_DENY,
        ),
        ([{"Effect": "Allow", "NotAction": "s3:*", "NotResource": "*/POST/*"}], ALLOW),
        ([{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ARN, "Condition": {"x": {}}}], IMPLICIT_DENY),
        ([{"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": ARN, "Condition": {"x": {}}}], EXPLICIT_DENY),
        ([{"Effect": "allow", "Action": "execute-api:Invoke", "Resource": ARN}], IMPLICIT_DENY),
    ],
)
def test_policy_evaluation(statements, decision):
    assert evaluate_policy(statements, ARN) == decision


def test_answers_are_validated_and_the_context_stringified():
    answer = parse_answer(
        json.dumps(
            {
                "principalId": "u1",
                "policyDocument": {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}},
                "context": {"s": "x", "n": 1, "f": 1.5, "t": True, "z": None},
                "usageIdentifierKey": "key-1",
            }
        ).encode()
    )
    assert answer.principal_id == "u1"
    assert answer.context == {"s": "x", "n": "1", "f": "1.5", "t": "true", "z": None}
    assert answer.usage_identifier_key == "key-1"
    assert len(answer.statements) == 1

    policy = {"Statement": []}
    for invalid in (
        b"not json",
        b"[]",
        json.dumps({"policyDocument": policy}).encode(),
        json.dumps({"principalId": "u1"}).encode(),
        json.dumps({"principalId": "u1", "policyDocument": {"Statement": "x"}}).encode(),
        json.dumps({"principalId": "u1", "policyDocument": policy, "context": {"l": [1]}}).encode(),
        json.dumps({"principalId": "u1", "policyDocument": policy, "context": "x"}).encode(),
    ):
        with pytest.raises(MalformedAnswer):
            parse_answer(invalid)
