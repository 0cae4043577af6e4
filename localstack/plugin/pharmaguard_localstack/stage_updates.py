"""Updates of ``AWS::ApiGateway::Stage`` in LocalStack's CloudFormation.

LocalStack's stage resource provider has no ``update``: when a template's API
changes (a new route gives the SAM-generated deployment a new logical id and
the stage a new ``DeploymentId``), the update is either skipped — the stage
keeps serving the old deployment, so the new route answers 404 — or turned
into a second ``CreateStage`` that fails with "Stage already exists" and rolls
the whole stack back. This module gives the provider an ``update`` that does
what CloudFormation does on AWS: it patches the existing stage in place
(deployment, description, variables, tracing) and creates it only when it is
missing.

Registered by the ``localstack.hooks.on_infra_start`` hook at the bottom.
"""

from __future__ import annotations

import logging

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)


def patch_operations(desired: dict, current: dict) -> list[dict]:
    """The ``UpdateStage`` patch operations that turn ``current`` (a ``GetStage``
    answer) into the ``desired`` CloudFormation properties."""
    ops: list[dict] = []
    deployment_id = desired.get("DeploymentId")
    if deployment_id and deployment_id != current.get("deploymentId"):
        ops.append({"op": "replace", "path": "/deploymentId", "value": deployment_id})
    description = desired.get("Description")
    if description is not None and description != current.get("description"):
        ops.append({"op": "replace", "path": "/description", "value": description})
    tracing = desired.get("TracingEnabled")
    if tracing is not None and bool(tracing) != bool(current.get("tracingEnabled")):
        ops.append({"op": "replace", "path": "/tracingEnabled", "value": str(bool(tracing)).lower()})
    wanted = desired.get("Variables") or {}
    existing = current.get("variables") or {}
    for name, value in sorted(wanted.items()):
        if existing.get(name) != value:
            ops.append({"op": "replace", "path": f"/variables/{name}", "value": str(value)})
    for name in sorted(set(existing) - set(wanted)):
        ops.append({"op": "remove", "path": f"/variables/{name}"})
    return ops


def update_stage(self, request):
    """``ResourceProvider.update`` for ``AWS::ApiGateway::Stage`` (see the module docs)."""
    from localstack.services.cloudformation.resource_provider import OperationStatus, ProgressEvent

    model = request.desired_state
    apigw = request.aws_client_factory.apigateway
    rest_api_id = model["RestApiId"]
    stage_name = model.get("StageName") or (request.previous_state or {}).get("StageName")
    try:
        current = apigw.get_stage(restApiId=rest_api_id, stageName=stage_name)
    except apigw.exceptions.NotFoundException:
        LOG.info("stage %s of API %s is missing; creating it", stage_name, rest_api_id)
        return self.create(request)
    ops = patch_operations(model, current)
    if ops:
        apigw.update_stage(restApiId=rest_api_id, stageName=stage_name, patchOperations=ops)
        LOG.info("stage %s of API %s updated: %s", stage_name, rest_api_id, [op["path"] for op in ops])
    model["StageName"] = stage_name
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model, custom_context=request.custom_context)


@hooks.on_infra_start()
def register_stage_updates() -> None:
    """Gives LocalStack's API Gateway stage resource provider an in-place ``update``."""
    from localstack.services.apigateway.resource_providers.aws_apigateway_stage import (
        ApiGatewayStageProvider,
    )

    if getattr(ApiGatewayStageProvider.update, "__module__", "") == __name__:
        return
    ApiGatewayStageProvider.update = update_stage
    LOG.info("CloudFormation updates of API Gateway stages enabled")
