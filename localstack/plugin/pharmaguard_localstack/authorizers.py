"""Lambda authorizers (``TOKEN`` and ``REQUEST``) for REST APIs, as API Gateway runs them.

LocalStack's open-source core lets a method with ``authorizationType: CUSTOM`` through
unauthenticated. This module adds a handler to the REST API gateway's
``preprocess_request`` step (after routing, before API key validation and the
integration) that, for such a method:

* reads the identity source from the request (``TOKEN``: one header, checked against
  ``identityValidationExpression``; ``REQUEST``: headers, query strings, stage and
  context variables) and answers 401 without calling the authorizer when it is missing;
* invokes the authorizer function synchronously through LocalStack's Lambda service,
  with the event API Gateway sends;
* answers 401 when the function fails with the message ``Unauthorized``, 500
  (``AuthorizerConfigurationException``) on any other failure or a malformed answer;
* evaluates the returned IAM policy for ``execute-api:Invoke`` on the method ARN (an
  explicit ``Deny`` wins, then an ``Allow``, else 403);
* hands ``principalId`` and the ``context`` map (values stringified, as API Gateway
  does) to the integration as ``$context.authorizer``, i.e. ``requestContext.authorizer``
  of a Lambda proxy event, and ``usageIdentifierKey`` as ``$context.identity.apiKey``;
* caches the answer per authorizer and identity for ``authorizerResultTtlInSeconds``
  (300 by default, 0 disables it), evaluating a cached policy against each request's
  method ARN.

Registered by the ``localstack.hooks.on_infra_start`` hook at the bottom; see
``localstack/README.md``. ``PHARMAGUARD_LAMBDA_AUTHORIZERS=0`` turns it off.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

from localstack.runtime import hooks

LOG = logging.getLogger("pharmaguard.authorizer")

DEFAULT_TTL_SECONDS = 300
DEFAULT_TOKEN_SOURCE = "method.request.header.Authorization"
INVOKE_ACTION = "execute-api:Invoke"
# 403 messages of API Gateway's ACCESS_DENIED response
EXPLICIT_DENY_MESSAGE = "User is not authorized to access this resource with an explicit deny"
NOT_ALLOWED_MESSAGE = "User is not authorized to access this resource"

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "allow", "explicit deny", "implicit deny"


class MalformedAnswer(ValueError):
    """The authorizer's answer is not what API Gateway accepts."""


# -- IAM policy evaluation ---------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    """IAM wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one character."""
    translated = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(translated, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches_any(patterns, value: str, ignore_case: bool) -> bool:
    return any(isinstance(p, str) and _wildcard(p, ignore_case).fullmatch(value) for p in _as_list(patterns))


def _statement_applies(statement: dict, action: str, resource: str) -> bool:
    if "Action" in statement:
        action_ok = _matches_any(statement["Action"], action, ignore_case=True)
    elif "NotAction" in statement:
        action_ok = not _matches_any(statement["NotAction"], action, ignore_case=True)
    else:
        action_ok = False
    if "Resource" in statement:
        resource_ok = _matches_any(statement["Resource"], resource, ignore_case=False)
    elif "NotResource" in statement:
        resource_ok = not _matches_any(statement["NotResource"], resource, ignore_case=False)
    else:
        resource_ok = False
    return action_ok and resource_ok


def policy_statements(policy_document) -> list[dict]:
    """The statements of a policy document, or MalformedAnswer."""
    if not isinstance(policy_document, dict):
        raise MalformedAnswer("policyDocument is not an object")
    statements = policy_document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise MalformedAnswer("policyDocument.Statement is neither an object nor a list of objects")
    return statements


def evaluate_policy(statements: list[dict], resource: str, action: str = INVOKE_ACTION) -> str:
    """ALLOW, EXPLICIT_DENY or IMPLICIT_DENY for ``action`` on ``resource``, as IAM decides.

    Conditions are not evaluated: a statement with a ``Condition`` never allows, and a
    ``Deny`` with a ``Condition`` always denies (the cautious reading).
    """
    allowed = False
    for statement in statements:
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny") or not _statement_applies(statement, action, resource):
            continue
        if effect == "Deny":
            return EXPLICIT_DENY
        if "Condition" in statement:
            LOG.warning("policy statement with a Condition ignored: conditions are not evaluated locally")
            continue
        allowed = True
    return ALLOW if allowed else IMPLICIT_DENY


def stringify_context(context) -> dict:
    """The authorizer's ``context`` map as API Gateway passes it on: strings, numbers and
    booleans become strings (``1`` → ``"1"``, ``true`` → ``"true"``), null stays null;
    an object or array value makes the answer invalid."""
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise MalformedAnswer("context is not an object")
    result = {}
    for key, value in context.items():
        if value is None or isinstance(value, str):
            result[key] = value
        elif isinstance(value, bool):
            result[key] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            result[key] = json.dumps(value)
        else:
            raise MalformedAnswer(f"context value of {key!r} is an object or array")
    return result


@dataclass
class AuthorizerAnswer:
    principal_id: str
    statements: list[dict]
    context: dict = field(default_factory=dict)
    usage_identifier_key: str | None = None


def parse_answer(payload: bytes) -> AuthorizerAnswer:
    """The authorizer function's successful output, or MalformedAnswer."""
    try:
        answer = json.loads(payload)
    except ValueError as error:
        raise MalformedAnswer("the output is not JSON") from error
    if not isinstance(answer, dict):
        raise MalformedAnswer("the output is not a JSON object")
    principal_id = answer.get("principalId")
    if principal_id is None or isinstance(principal_id, (dict, list)):
        raise MalformedAnswer("principalId is missing")
    usage_key = answer.get("usageIdentifierKey")
    return AuthorizerAnswer(
        principal_id=str(principal_id),
        statements=policy_statements(answer.get("policyDocument")),
        context=stringify_context(answer.get("context")),
        usage_identifier_key=usage_key if isinstance(usage_key, str) else None,
    )


# -- the cache ---------------------------------------------------------------------------------


class AnswerCache:
    """Authorizer answers by (deployment, authorizer, identity), each for its TTL."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self.entries: dict[tuple, tuple[float, AuthorizerAnswer]] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple) -> AuthorizerAnswer | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self.entries[key]
                return None
            return entry[1]

    def put(self, key: tuple, answer: AuthorizerAnswer, ttl: int) -> None:
        now = time.monotonic()
        with self.lock:
            if len(self.entries) >= self.MAX_ENTRIES:
                for stale in [k for k, (expiry, _) in self.entries.items() if expiry <= now]:
                    del self.entries[stale]
                while len(self.entries) >= self.MAX_ENTRIES:
                    del self.entries[next(iter(self.entries))]
            self.entries[key] = (now + ttl, answer)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


# -- the gateway handler -----------------------------------------------------------------------


class LambdaAuthorizerHandler:
    """A ``preprocess_request`` handler of LocalStack's REST API gateway (next-gen)."""

    def __init__(self) -> None:
        self.cache = AnswerCache()

    def __call__(self, chain, context, response) -> None:
        method = context.resource_method or {}
        if (method.get("authorizationType") or "").upper() != "CUSTOM":
            return
        authorizer_id = method.get("authorizerId")
        authorizer = context.deployment.rest_api.authorizers.get(authorizer_id or "")
        if authorizer is None:
            self._config_error(context, f"method's authorizer {authorizer_id!r} is not part of the deployment")
        kind = (authorizer.get("type") or "").upper()
        if kind not in ("TOKEN", "REQUEST"):
            self._config_error(context, f"authorizer {authorizer_id} has type {kind or 'none'}, not TOKEN or REQUEST")
        self.authorize(context, authorizer, kind)

    # -- steps -------------------------------------------------------------------------------

    def authorize(self, context, authorizer: dict, kind: str) -> None:
        from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
            AccessDeniedError,
            UnauthorizedError,
        )

        authorizer_id = authorizer.get("id") or context.resource_method.get("authorizerId")
        ttl = self._ttl(authorizer)
        method_arn = self.method_arn(context)
        identity = self._identity(context, authorizer, kind, ttl)
        where = f"{context.invocation_request['http_method']} {context.invocation_request['path']}"
        if identity is None:
            LOG.info("%s: authorizer %s (%s): 401, identity source missing or invalid", where, authorizer_id, kind)
            raise UnauthorizedError("Unauthorized")

        key = (
            context.account_id,
            context.region,
            context.api_id,
            context.stage,
            context.deployment_id,
            authorizer_id,
            hashlib.sha256("\x00".join(identity).encode()).hexdigest(),
        )
        answer = self.cache.get(key) if ttl > 0 else None
        cached = answer is not None
        latency_ms = 0
        if answer is None:
            event = self.token_event(authorizer, identity[0], method_arn) if kind == "TOKEN" else self.request_event(context, method_arn)
            started = time.perf_counter()
            answer = self.invoke(context, authorizer, event, where)
            latency_ms = int((time.perf_counter() - started) * 1000)
            if ttl > 0:
                self.cache.put(key, answer, ttl)

        decision = evaluate_policy(answer.statements, method_arn)
        LOG.info(
            "%s: authorizer %s (%s): %s for principalId=%s%s",
            where,
            authorizer_id,
            kind,
            {ALLOW: "allow"}.get(decision, f"403, {decision}"),
            answer.principal_id,
            " (cached)" if cached else "",
        )
        if decision == EXPLICIT_DENY:
            raise AccessDeniedError(EXPLICIT_DENY_MESSAGE)
        if decision != ALLOW:
            raise AccessDeniedError(NOT_ALLOWED_MESSAGE)

        variables = context.context_variables
        variables["authorizer"] = {
            **answer.context,
            "principalId": answer.principal_id,
            "integrationLatency": latency_ms,
        }
        if answer.usage_identifier_key:
            identity_vars = variables.get("identity")
            if isinstance(identity_vars, dict):
                identity_vars["apiKey"] = answer.usage_identifier_key

    @staticmethod
    def _ttl(authorizer: dict) -> int:
        value = authorizer.get("authorizerResultTtlInSeconds")
        try:
            return max(0, int(value)) if value is not None else DEFAULT_TTL_SECONDS
        except (TypeError, ValueError):
            return DEFAULT_TTL_SECONDS

    def _identity(self, context, authorizer: dict, kind: str, ttl: int) -> list[str] | None:
        """The identity source values, or None when the request must be refused with 401."""
        if kind == "TOKEN":
            source = (authorizer.get("identitySource") or DEFAULT_TOKEN_SOURCE).strip()
            token = self._source_value(context, source)
            if not token:
                return None
            if expression := authorizer.get("identityValidationExpression"):
                try:
                    if not re.fullmatch(expression, token):
                        return None
                except re.error:
                    self._config_error(context, f"identityValidationExpression {expression!r} is not a regex")
            return [token]
        sources = [s.strip() for s in (authorizer.get("identitySource") or "").split(",") if s.strip()]
        values = [self._source_value(context, source) for source in sources]
        if ttl == 0:
            # without caching API Gateway neither requires nor checks the identity sources
            return [v or "" for v in values]
        if not sources or not all(values):
            return None
        return values

    @staticmethod
    def _source_value(context, source: str) -> str | None:
        request = context.invocation_request
        prefix, _, name = source.partition(".request.")
        if prefix == "method" and name:
            location, _, key = name.partition(".")
            headers = request["headers"]
            match location:
                case "header":
                    return headers.get(key)
                case "multivalueheader":
                    return ",".join(headers.getlist(key)) or None
                case "querystring":
                    return (request.get("query_string_parameters") or {}).get(key)
                case "multivaluequerystring":
                    return ",".join((request.get("multi_value_query_string_parameters") or {}).get(key) or []) or None
        elif source.startswith("stageVariables."):
            return (context.stage_variables or {}).get(source.removeprefix("stageVariables."))
        elif source.startswith("context."):
            value = context.context_variables
            for part in source.removeprefix("context.").split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return None if value is None or isinstance(value, (dict, list)) else str(value)
        LOG.warning("identity source %r is not supported", source)
        return None

    # -- events ------------------------------------------------------------------------------

    @staticmethod
    def method_arn(context) -> str:
        from localstack.utils.aws.arns import get_partition

        request = context.invocation_request
        return (
            f"arn:{get_partition(context.region)}:execute-api:{context.region}:{context.account_id}:"
            f"{context.api_id}/{context.stage}/{request['http_method']}/{request['path'].removeprefix('/')}"
        )

    @staticmethod
    def token_event(authorizer: dict, token: str, method_arn: str) -> dict:
        return {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}

    @staticmethod
    def request_event(context, method_arn: str) -> dict:
        from localstack.services.apigateway.next_gen.execute_api.header_utils import build_multi_value_headers
        from localstack.services.apigateway.next_gen.execute_api.integrations.aws import (
            RestApiAwsProxyIntegration,
        )

        request = context.invocation_request
        headers = request["headers"]
        format_headers = RestApiAwsProxyIntegration._format_headers
        return {
            "type": "REQUEST",
            "methodArn": method_arn,
            "resource": context.resource["path"],
            "path": context.context_variables["path"] if context.base_path else request["path"],
            "httpMethod": request["http_method"],
            "headers": format_headers(dict(headers)),
            "multiValueHeaders": format_headers(build_multi_value_headers(headers)),
            "queryStringParameters": dict(request.get("query_string_parameters") or {}),
            "multiValueQueryStringParameters": dict(request.get("multi_value_query_string_parameters") or {}),
            "pathParameters": dict(request.get("path_parameters") or {}),
            "stageVariables": dict(context.stage_variables or {}),
            "requestContext": copy.deepcopy(context.context_variables),
        }

    # -- the function ------------------------------------------------------------------------

    def invoke(self, context, authorizer: dict, event: dict, where: str) -> AuthorizerAnswer:
        """Calls the authorizer function as the AWS_PROXY integration calls its function."""
        from localstack.services.apigateway.next_gen.execute_api.gateway_response import UnauthorizedError
        from localstack.services.apigateway.next_gen.execute_api.helpers import (
            get_lambda_function_arn_from_invocation_uri,
            render_uri_with_stage_variables,
        )
        from localstack.services.apigateway.next_gen.execute_api.integrations.aws import get_service_factory
        from localstack.utils.aws.arns import extract_region_from_arn, get_partition
        from localstack.utils.aws.client_types import ServicePrincipal

        authorizer_id = authorizer.get("id")
        uri = render_uri_with_stage_variables(authorizer.get("authorizerUri") or "", context.stage_variables)
        try:
            function_arn = get_lambda_function_arn_from_invocation_uri(uri)
        except IndexError:
            self._config_error(context, f"authorizer {authorizer_id} has no Lambda function in its authorizerUri")
        credentials = authorizer.get("authorizerCredentials") or ""
        role_arn = credentials if ":role/" in credentials else None
        source_arn = (
            f"arn:{get_partition(context.region)}:execute-api:{context.region}:{context.account_id}:"
            f"{context.api_id}/authorizers/{authorizer_id}"
        )
        try:
            lambda_client = get_service_factory(
                region_name=extract_region_from_arn(function_arn) or context.region, role_arn=role_arn
            ).lambda_
            result = lambda_client.request_metadata(
                service_principal=ServicePrincipal.apigateway, source_arn=source_arn
            ).invoke(FunctionName=function_arn, Payload=json.dumps(event).encode(), InvocationType="RequestResponse")
            payload = result["Payload"].read() if result.get("Payload") else b""
        except Exception as error:  # noqa: BLE001 - any failure to call the function is a configuration error
            self._config_error(context, f"authorizer {authorizer_id}: cannot invoke {function_arn}: {error}")

        if result.get("FunctionError"):
            try:
                message = json.loads(payload).get("errorMessage")
            except (ValueError, AttributeError):
                message = None
            if message == "Unauthorized":
                LOG.info(
                    "%s: authorizer %s (%s): 401, the function answered Unauthorized",
                    where,
                    authorizer_id,
                    (authorizer.get("type") or "").upper(),
                )
                raise UnauthorizedError("Unauthorized")
            self._config_error(context, f"authorizer {authorizer_id}: the function failed: {payload[:500]!r}")
        try:
            return parse_answer(payload)
        except MalformedAnswer as error:
            self._config_error(context, f"authorizer {authorizer_id}: invalid answer ({error})")

    @staticmethod
    def _config_error(context, reason: str):
        from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
            AuthorizerConfigurationError,
        )

        request = context.invocation_request
        LOG.warning("%s %s: 500, authorizer configuration error: %s", request["http_method"], request["path"], reason)
        raise AuthorizerConfigurationError()


# -- registration ------------------------------------------------------------------------------


def _enabled() -> bool:
    return os.environ.get("PHARMAGUARD_LAMBDA_AUTHORIZERS", "1").strip().lower() not in ("0", "false", "no", "off")


@hooks.on_infra_start()
def register_lambda_authorizers() -> None:
    """Adds the Lambda authorizer handler to the REST API gateway's ``preprocess_request``."""
    if not _enabled():
        LOG.info("Lambda authorizers for REST APIs are off (PHARMAGUARD_LAMBDA_AUTHORIZERS)")
        return
    from localstack.services.apigateway.next_gen.execute_api import handlers

    if any(isinstance(h, LambdaAuthorizerHandler) for h in handlers.preprocess_request.handlers):
        return
    handlers.preprocess_request.append(LambdaAuthorizerHandler())
    LOG.info("Lambda authorizers (TOKEN, REQUEST) enabled for REST APIs")
