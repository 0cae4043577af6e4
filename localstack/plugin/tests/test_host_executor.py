"""The host executor runs a function's bootstrap as a process and every trigger reaches it."""

import json
import time
import uuid

from conftest import ENDPOINT, client


def test_invoke_passes_the_function_environment_and_returns_the_response(function):
    response, body = function.invoke({"action": "echo"})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["greeting"] == "hello"
    assert body["endpoint"] == ENDPOINT
    assert body["task_root"].endswith("/code")


def test_a_slow_invocation_times_out_and_the_next_one_works(function):
    started = time.monotonic()
    response, body = function.invoke({"action": "sleep"})

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in body["errorMessage"]
    assert time.monotonic() - started < 4.5, "the timeout, not the sleep, ended the invocation"

    response, body = function.invoke({"action": "echo"})
    assert "FunctionError" not in response
    assert body["greeting"] == "hello"


def test_a_crashed_runtime_is_reported_and_replaced(function):
    response, body = function.invoke({"action": "crash"})

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in body["errorMessage"]

    response, body = function.invoke({"action": "echo"})
    assert "FunctionError" not in response


def test_logs_reach_cloudwatch(function):
    function.invoke({"action": "echo"})
    logs = client("logs")
    group = f"/aws/lambda/{function.name}"
    deadline = time.monotonic() + 10
    messages = []
    while time.monotonic() < deadline and not any("started with GREETING=hello" in m for m in messages):
        try:
            messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        except logs.exceptions.ResourceNotFoundException:
            pass
        time.sleep(0.5)
    assert any("started with GREETING=hello" in m for m in messages), messages
    assert any(m.startswith("REPORT RequestId:") for m in messages), messages


def test_kinesis_records_reach_the_function(function):
    kinesis = client("kinesis")
    stream = f"host-executor-test-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    lam = client("lambda")
    mapping = lam.create_event_source_mapping(
        FunctionName=function.name, EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=10
    )["UUID"]
    try:
        kinesis.put_record(StreamName=stream, PartitionKey="truck-1", Data=b'{"marker":"via-kinesis"}')
        events = function.wait_for_records(lambda e: "Records" in e and e["Records"][0].get("eventSource") == "aws:kinesis")
        assert events[0]["Records"][0]["kinesis"]["partitionKey"] == "truck-1"
    finally:
        lam.delete_event_source_mapping(UUID=mapping)
        kinesis.delete_stream(StreamName=stream)


def test_sns_messages_reach_the_function(function):
    sns = client("sns")
    topic = sns.create_topic(Name=f"host-executor-test-{uuid.uuid4().hex[:8]}")["TopicArn"]
    try:
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function.arn)
        sns.publish(TopicArn=topic, Message=json.dumps({"marker": "via-sns"}))
        events = function.wait_for_records(lambda e: "Records" in e and e["Records"][0].get("EventSource") == "aws:sns")
        assert json.loads(events[0]["Records"][0]["Sns"]["Message"]) == {"marker": "via-sns"}
    finally:
        sns.delete_topic(TopicArn=topic)


def test_dynamodb_stream_records_reach_the_function(function):
    ddb = client("dynamodb")
    table = f"host-executor-test-{uuid.uuid4().hex[:8]}"
    stream_arn = ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    lam = client("lambda")
    mapping = lam.create_event_source_mapping(
        FunctionName=function.name, EventSourceArn=stream_arn, StartingPosition="TRIM_HORIZON"
    )["UUID"]
    try:
        # the mapping starts polling asynchronously; write until the function sees a record
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not function.records():
            ddb.put_item(TableName=table, Item={"pk": {"S": f"item-{uuid.uuid4().hex[:6]}"}})
            time.sleep(1)
        events = function.wait_for_records(lambda e: "Records" in e and e["Records"][0].get("eventSource") == "aws:dynamodb")
        assert events[0]["Records"][0]["eventName"] == "INSERT"
    finally:
        lam.delete_event_source_mapping(UUID=mapping)
        ddb.delete_table(TableName=table)
