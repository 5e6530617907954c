#!/usr/bin/env python3
"""What CloudFormation will deploy: template.yaml through SAM's own transform, offline.

`sam validate` checks that the template translates; this test reads what it translates
*to* (samtranslator, the library inside the SAM CLI and the AWS::Serverless transform),
with the parameters resolved as CloudFormation would, for ApiKeyRequired=false and =true:

- the API's request model is exactly openapi.yaml's Order schema (the single source),
  and every request validator the body refers to is defined;
- each route reaches its function's alias "live" through an aws_proxy integration; every
  function deploys through CodeDeploy with its own rollback alarms;
- the API key requirement, the usage plan, its quota and throttle follow ApiKeyRequired;
- every gateway response answers JSON with an error code that openapi.yaml documents;
- every role (SAM's too) names only this stack's resources, X-Ray's writes excepted, and
  each function's role grants exactly what it needs;
- at every LogLevel Lambda keeps the metric lines; each function gets LOG_LEVEL;
- samconfig.toml's environments, read by SAM CLI's own code, list every parameter.

Run with the project's venv: .venv/bin/python tests/sam_transform.py
"""
import copy
import json
import os
import sys
from pathlib import Path

import yaml
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

failures = []
checks = 0


def check(ok, what):
    global checks
    checks += 1
    if not ok:
        failures.append(what)
        print(f"FAIL {what}")


class ManagedPolicies:
    """Managed policy names to ARNs, as the SAM CLI resolves them (offline here)."""

    def get_policy_arn(self, name):
        return f"arn:aws:iam::aws:policy/{name}"

    def load(self):
        pass


def translate(parameters, mutate=None):
    template = yaml_parse((ROOT / "template.yaml").read_text())
    if mutate:
        mutate(template)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # `sam package` replaces the local CodeUri with the uploaded S3 object.
            resource["Properties"]["CodeUri"] = "s3://bucket/key"
    return transform(template, parameters, ManagedPolicies())


def resolver(template, parameters):
    """Evaluates Conditions and Fn::If like CloudFormation, for the given parameters."""
    values = {
        name: str(parameters.get(name, spec.get("Default", "")))
        for name, spec in template.get("Parameters", {}).items()
    }
    conditions = template.get("Conditions", {})

    def value(node):
        if isinstance(node, dict) and list(node) == ["Ref"]:
            return values.get(node["Ref"], node["Ref"])
        return node

    def condition(expr):
        if isinstance(expr, str):
            return condition(conditions[expr])
        (fn, args), = expr.items()
        if fn == "Fn::Equals":
            return value(args[0]) == value(args[1])
        if fn == "Fn::Not":
            return not condition(args[0])
        if fn == "Fn::And":
            return all(condition(a) for a in args)
        if fn == "Fn::Or":
            return any(condition(a) for a in args)
        if fn == "Condition":
            return condition(args)
        raise ValueError(f"unsupported condition {fn}")

    def resolve(node):
        if isinstance(node, dict):
            if list(node) == ["Fn::If"]:
                name, yes, no = node["Fn::If"]
                return resolve(yes if condition(name) else no)
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    def deployed(resources):
        return {
            logical_id: resolve(r)
            for logical_id, r in resources.items()
            if "Condition" not in r or condition(r["Condition"])
        }

    return deployed


def walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def as_list(value):
    return value if isinstance(value, list) else [value]


XRAY_WRITE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# Roles whose managed policies are accepted, with the reason. CodeDeployServiceRole is the
# role SAM writes for DeploymentPreference: CodeDeploy (not our code) assumes it to move the
# alias, with the AWS-managed AWSCodeDeployRoleForLambda (lambda:GetAlias/UpdateAlias,
# cloudwatch:DescribeAlarms, sns:Publish on "*"). A hand-written, narrower role is possible
# (DeploymentPreference.Role), but which calls CodeDeploy makes is not documented per
# resource and a wrong guess only shows as failed deployments in a real account.
# ApiGatewayLoggingRole (CreateApiGatewayLoggingRole=true) is API Gateway's account-wide
# logging role: it serves every REST API of the account, so it carries AWS's
# AmazonAPIGatewayPushToCloudWatchLogs (scoping it to this stack would break other APIs' logs).
MANAGED_POLICY_EXEMPTIONS = {
    "CodeDeployServiceRole": ["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"],
    "ApiGatewayLoggingRole": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}],
}


def role_problems(resources):
    """(role, problem) for every statement that is not scoped to this stack's resources."""
    out = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = resource["Properties"]
        managed = props.get("ManagedPolicyArns", [])
        if managed and MANAGED_POLICY_EXEMPTIONS.get(logical_id) != managed:
            out.append((logical_id, f"managed policies {managed}"))
        if "PermissionsBoundary" in props:
            out.append((logical_id, "a permissions boundary"))
        for policy in props.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = as_list(statement.get("Action", []))
                target = statement.get("Resource")
                scoped = (isinstance(target, dict) and list(target) == ["Fn::GetAtt"]
                          and target["Fn::GetAtt"][0] in resources
                          and target["Fn::GetAtt"][1] == "Arn")
                ok = (statement.get("Effect") == "Allow"
                      and not {"NotAction", "NotResource"} & set(statement)
                      and actions and all("*" not in a for a in actions)
                      and (scoped or (target == "*" and set(actions) <= XRAY_WRITE)))
                if not ok:
                    out.append((logical_id, f"{policy['PolicyName']} grants more than this stack: {statement}"))
    return out


def arn(logical_id):
    return {"Fn::GetAtt": [logical_id, "Arn"]}


LOGS = ["logs:CreateLogStream", "logs:PutLogEvents"]
XRAY = sorted(XRAY_WRITE)
# Each function's grants: its own log group first, then X-Ray, then its queue and table.
FUNCTION_GRANTS = {
    "IngestFunction": [(LOGS, arn("IngestLogGroup")), (XRAY, "*"),
                       (["sqs:SendMessage"], arn("OrdersQueue")),
                       (["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem",
                         "dynamodb:DeleteItem"], arn("IdempotencyTable"))],
    "WorkerFunction": [(LOGS, arn("WorkerLogGroup")), (XRAY, "*"),
                       (["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                        arn("OrdersQueue")),
                       (["dynamodb:PutItem"], arn("OrdersTable"))],
    "StatusFunction": [(LOGS, arn("StatusLogGroup")), (XRAY, "*"),
                       (["dynamodb:GetItem"], arn("OrdersTable"))],
}

openapi = yaml.safe_load((ROOT / "openapi.yaml").read_text())
order_model = {"$schema": "http://json-schema.org/draft-04/schema#", **openapi["components"]["schemas"]["Order"]}
documented_codes = set(openapi["components"]["schemas"]["Error"]["properties"]["error"]["enum"])
ROUTES = {("/order", "post"): "IngestFunction", ("/orders/{order_id}", "get"): "StatusFunction"}

for api_key in ("false", "true"):
    parameters = {"ApiKeyRequired": api_key, "ApiKeyQuotaPerDay": "1234"}
    out = translate(parameters)
    resources = resolver(out, parameters)(out["Resources"])
    label = f"ApiKeyRequired={api_key}"

    body = resources["OrdersApi"]["Properties"]["Body"]
    definitions = body.get("definitions", {})
    check(definitions.get("order") == order_model,
          f"{label}: the API's request model is openapi.yaml's Order schema (run scripts/sync-schema)")
    validators = body.get("x-amazon-apigateway-request-validators", {})
    for node in walk(body):
        if isinstance(node, dict) and "x-amazon-apigateway-request-validator" in node:
            name = node["x-amazon-apigateway-request-validator"]
            check(validators.get(name, {}).get("validateRequestBody") is True,
                  f"{label}: request validator {name!r} is defined and validates bodies")
        if isinstance(node, dict) and "$ref" in node:
            target = node["$ref"].split("/")[-1]
            check(target in definitions, f"{label}: {node['$ref']} resolves")

    for (path, method), function in ROUTES.items():
        operation = body["paths"].get(path, {}).get(method)
        check(operation is not None, f"{label}: {method.upper()} {path} exists")
        if operation is None:
            continue
        integration = operation.get("x-amazon-apigateway-integration", {})
        check(integration.get("type") == "aws_proxy"
              and f"${{{function}Aliaslive}}" in json.dumps(integration.get("uri")),
              f"{label}: {method.upper()} {path} is a proxy integration of {function}'s alias live")
        security = operation.get("security", [])
        wants_key = api_key == "true"
        check((security == [{"api_key": []}]) == wants_key and (security == []) != wants_key,
              f"{label}: {method.upper()} {path} requires an API key: {wants_key} (security={security})")
    check(body.get("securityDefinitions", {}).get("api_key", {}).get("name") == "x-api-key",
          f"{label}: the api_key scheme reads the x-api-key header")

    plans = {k: r for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::UsagePlan"}
    keys = {k: r for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::ApiKey"}
    plan_keys = {k: r for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::UsagePlanKey"}
    if api_key == "true":
        check(len(plans) == 1 and len(keys) == 1 and len(plan_keys) == 1,
              f"{label}: one usage plan, one API key, linked")
        for plan in plans.values():
            p = plan["Properties"]
            check(p["Quota"] == {"Limit": {"Ref": "ApiKeyQuotaPerDay"}, "Period": "DAY"},
                  f"{label}: the quota comes from ApiKeyQuotaPerDay")
            check(set(p["Throttle"]) == {"RateLimit", "BurstLimit"}, f"{label}: the plan throttles")
            check(p["ApiStages"][0]["ApiId"] == {"Ref": "OrdersApi"}
                  and p["ApiStages"][0]["Stage"] == {"Ref": "OrdersApiStage"},
                  f"{label}: the plan covers this API's stage")
        check("ApiKeyId" in {k for k, o in out["Outputs"].items()
                             if "Condition" not in o or api_key == "true"},
              f"{label}: the key's id is an output")
    else:
        check(not plans and not keys and not plan_keys, f"{label}: no usage plan and no API key")

    responses = body.get("x-amazon-apigateway-gateway-responses", {})
    for kind in ("BAD_REQUEST_BODY", "THROTTLED", "QUOTA_EXCEEDED", "INVALID_API_KEY",
                 "MISSING_AUTHENTICATION_TOKEN", "INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT",
                 "DEFAULT_4XX", "DEFAULT_5XX"):
        check(kind in responses, f"{label}: gateway response {kind} is defined")
    # What a client must get instead of a bare 500 or an unexplained 429 (issue 13).
    for kind, status, code in (("THROTTLED", "429", "throttled"),
                               ("INTEGRATION_FAILURE", "503", "service_unavailable"),
                               ("INTEGRATION_TIMEOUT", "504", "gateway_timeout")):
        response = responses.get(kind, {})
        check(response.get("statusCode") == status, f"{label}: {kind} answers {status}")
        check(response.get("responseParameters", {}).get("gatewayresponse.header.Retry-After") == "'1'",
              f"{label}: {kind} carries Retry-After: 1")
    for kind, response in responses.items():
        template_text = response.get("responseTemplates", {}).get("application/json", "")
        check(response.get("responseParameters", {}).get("gatewayresponse.header.Content-Type")
              == "'application/json'", f"{label}: {kind} answers application/json")
        # API Gateway substitutes variables as they are, without escaping (a gateway response
        # template is not VTL): render with what it really puts there, API Gateway's own
        # messages and a validation error that quotes a property name, then parse.
        for message, validation in (("Invalid request body", '[object has missing required properties (["items"])]'),
                                    ("Too Many Requests", '[instance type (string) does not match any allowed primitive type (allowed: ["integer"])]'),
                                    ("Internal server error", "")):
            sample = (template_text.replace("$context.error.messageString", f'"{message}"')
                      .replace("$context.error.message", message)
                      .replace("$context.error.validationErrorString", validation)
                      .replace("$context.error.responseType", kind))
            try:
                rendered = json.loads(sample)
                code = rendered.get("error")
            except ValueError:
                rendered, code = None, None
            check(rendered is not None and isinstance(rendered.get("message"), str),
                  f"{label}: {kind} renders valid JSON with a message for {validation or message!r}: {sample}")
            check(code in documented_codes, f"{label}: {kind}'s error code {code!r} is in openapi.yaml")

    # Every role in what CloudFormation deploys, including any SAM adds: no managed policy
    # (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess, AWSLambdaSQSQueueExecutionRole
    # grant on "*"), and every statement names a resource of this stack, except X-Ray's
    # writes, which have no resource-level permissions
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html).
    roles = {k: r for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    check(len(roles) >= 3, f"{label}: the functions' roles are there ({sorted(roles)})")
    for logical_id, problem in role_problems(resources):
        check(False, f"{label}: {logical_id}: {problem}")
    for function, wanted in FUNCTION_GRANTS.items():
        role = resources[function]["Properties"].get("Role", {}).get("Fn::GetAtt", [None])[0]
        got = [(sorted(as_list(st["Action"])), json.dumps(st["Resource"], sort_keys=True))
               for p in resources.get(role, {}).get("Properties", {}).get("Policies", [])
               for st in p["PolicyDocument"]["Statement"]]
        want = [(sorted(actions), json.dumps(target, sort_keys=True)) for actions, target in wanted]
        check(sorted(got) == sorted(want), f"{label}: {function}'s role {role} grants exactly {want}, not {got}")
        log_group = resources[function]["Properties"].get("LoggingConfig", {}).get("LogGroup")
        check(log_group == {"Ref": wanted[0][1]["Fn::GetAtt"][0]},
              f"{label}: {function} logs to the group its role names ({log_group})")

# Safe deployments: each function has the alias "live", a CodeDeploy deployment group whose
# configuration is DeploymentPreferenceType and whose alarms are the function's own, and
# everything that invokes it (API integration and permission, SQS event source mapping)
# names the alias, so traffic follows the shift.
ROLLBACK_ALARMS = {"IngestFunction": ["Api5xxRateAlarm", "IngestThrottlesAlarm"],
                   "WorkerFunction": ["WorkerErrorsAlarm", "WorkerThrottlesAlarm"],
                   "StatusFunction": ["Api5xxRateAlarm"]}
for kind in ("AllAtOnce", "Canary10Percent5Minutes"):
    parameters = {"DeploymentPreferenceType": kind}
    out = translate(parameters)
    resources = resolver(out, parameters)(out["Resources"])
    for function, alarms in ROLLBACK_ALARMS.items():
        alias = f"{function}Aliaslive"
        check(resources.get(alias, {}).get("Properties", {}).get("Name") == "live",
              f"{kind}: {function} has the alias live")
        group = resources.get(f"{function}DeploymentGroup", {}).get("Properties", {})
        config = json.dumps(group.get("DeploymentConfigName"))
        check(f'"ConfigName": "{kind}"' in config and "CodeDeployDefault.Lambda" in config,
              f"{kind}: {function}'s deployment group shifts {kind} ({config})")
        got = [a["Name"] for a in group.get("AlarmConfiguration", {}).get("Alarms", [])]
        check(got == [{"Ref": a} for a in alarms] and group["AlarmConfiguration"].get("Enabled") is True,
              f"{kind}: {function} rolls back on {alarms} (got {got})")
        check("DEPLOYMENT_STOP_ON_ALARM" in group.get("AutoRollbackConfiguration", {}).get("Events", []),
              f"{kind}: {function} rolls back when an alarm stops the deployment")
        for logical_id, resource in resources.items():
            if resource["Type"] in ("AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping"):
                target = resource["Properties"]["FunctionName"]
                if json.dumps(target) in (json.dumps({"Ref": function}), json.dumps({"Ref": alias})):
                    check(target == {"Ref": alias}, f"{kind}: {logical_id} names {function}'s alias, not the function")
    esm = resources.get("WorkerFunctionOrdersQueueEvent", {}).get("Properties", {})
    check(esm.get("FunctionName") == {"Ref": "WorkerFunctionAliaslive"},
          f"{kind}: the SQS event source mapping invokes the worker's alias")
    for permission in ("IngestFunctionPostOrderPermissionStage", "StatusFunctionGetOrderPermissionStage"):
        function = permission.split("Function")[0] + "Function"
        check(resources.get(permission, {}).get("Properties", {}).get("FunctionName") == {"Ref": f"{function}Aliaslive"},
              f"{kind}: {permission} lets API Gateway invoke the alias")

# Access logs: the stage writes them to ApiAccessLogGroup; with CreateApiGatewayLoggingRole
# the account-wide role and setting are created, retained, and the stage waits for them.
for create in ("true", "false"):
    parameters = {"CreateApiGatewayLoggingRole": create}
    out = translate(parameters)
    resources = resolver(out, parameters)(out["Resources"])
    stage = resources["OrdersApiStage"]
    access = stage["Properties"].get("AccessLogSetting", {})
    check(access.get("DestinationArn") == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
          and "$context.requestId" in access.get("Format", ""),
          f"CreateApiGatewayLoggingRole={create}: the stage writes access logs to ApiAccessLogGroup")
    check(resources.get("ApiAccessLogGroup", {}).get("Properties", {}).get("RetentionInDays")
          == {"Ref": "ApiAccessLogRetentionDays"}, "the access log's retention is ApiAccessLogRetentionDays")
    account = resources.get("ApiGatewayAccount")
    check((account is not None) == (create == "true"),
          f"CreateApiGatewayLoggingRole={create}: API Gateway's account setting created: {account is not None}")
    if account:
        check(account.get("DeletionPolicy") == "Retain"
              and resources["ApiGatewayLoggingRole"].get("DeletionPolicy") == "Retain",
              "the account-wide role and setting outlive the stack")
        check(stage["Properties"].get("Variables", {}).get("loggingAccount") == {"Ref": "ApiGatewayAccount"},
              "the stage waits for the account setting")
    for logical_id, problem in role_problems(resources):
        check(False, f"CreateApiGatewayLoggingRole={create}: {logical_id}: {problem}")

# Log levels (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html):
# Lambda gives a JSON line without a "level" field the level INFO, so its application filter
# must admit INFO at every LogLevel or the metric (EMF) lines are dropped; the functions get
# LogLevel as LOG_LEVEL and filter their own lines. Checked on what SAM made of Globals.
LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
FUNCTIONS = ("IngestFunction", "WorkerFunction", "StatusFunction")
for log_level in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR"):
    parameters = {"LogLevel": log_level}
    out = translate(parameters)
    resources = resolver(out, parameters)(out["Resources"])
    system_default = out["Parameters"]["SystemLogLevel"]["Default"]
    for function in FUNCTIONS:
        props = resources[function]["Properties"]
        logging = props.get("LoggingConfig", {})
        app = logging.get("ApplicationLogLevel")
        app = parameters.get(app["Ref"]) if isinstance(app, dict) else app
        check(app in LEVELS and LEVELS.index(app) <= LEVELS.index("INFO"),
              f"LogLevel={log_level}: {function}'s Lambda filter ({app}) keeps level-less metric lines")
        check(logging.get("LogFormat") == "JSON", f"{function} logs JSON")
        check(logging.get("SystemLogLevel") == {"Ref": "SystemLogLevel"} and system_default == "INFO",
              f"{function}: SystemLogLevel comes from the parameter, INFO by default (keeps REPORT)")
        check(props.get("Environment", {}).get("Variables", {}).get("LOG_LEVEL") == {"Ref": "LogLevel"},
              f"{function} gets LogLevel as LOG_LEVEL")

# samconfig.toml, read by SAM CLI's own loader and split by its own override parser (the
# code `sam deploy --config-env` runs): every environment names every template parameter
# and nothing else, and no value is lost (SAM silently drops a bare `Key=`).
from samcli.cli.types import CfnParameterOverridesType
from samcli.lib.config.samconfig import SamConfig

template_parameters = set(yaml_parse((ROOT / "template.yaml").read_text())["Parameters"])
samconfig = SamConfig(str(ROOT), "samconfig.toml")
for env in ("default", "prod"):
    raw = samconfig.get_all(["deploy"], "parameters", env)["parameter_overrides"]
    parsed = CfnParameterOverridesType().convert(raw, None, None)
    check(set(parsed) == template_parameters,
          f"samconfig {env}: lists exactly the template's parameters "
          f"(missing {sorted(template_parameters - set(parsed))}, unknown {sorted(set(parsed) - template_parameters)})")
    check(len(parsed) == raw.count("="), f"samconfig {env}: SAM keeps every Key=Value pair it was given")
check(CfnParameterOverridesType().convert("A=1 AlarmEmail= B=2", None, None) == {"A": "1", "B": "2"},
      "SAM's parser still drops a bare Key= (samconfig.toml writes Key=\"\" for that reason)")

# The role check can fail: SAM's own role for a function (what the template had before: the
# managed AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess, AWSLambdaSQSQueueExecutionRole)
# is reported.
def sam_role(template):
    worker = template["Resources"]["WorkerFunction"]["Properties"]
    del worker["Role"]
    worker["Policies"] = [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": {"Fn::GetAtt": ["OrdersTable", "Arn"]}}]}]


generated = translate({}, sam_role)["Resources"]
check(any(r == "WorkerFunctionRole" and "managed policies" in p for r, p in role_problems(generated)),
      "a function role SAM generates (managed policies on \"*\") is reported")

# The model check can fail: a template whose model drifted from openapi.yaml is caught.
def drift(template):
    template["Resources"]["OrdersApi"]["Properties"]["Models"]["Order"]["properties"]["items"]["maxItems"] = 101


drifted = translate({}, drift)["Resources"]["OrdersApi"]["Properties"]["Body"]["definitions"]["order"]
check(drifted != order_model, "a template whose model drifted from openapi.yaml is detected")

print(f"sam transform: {checks - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
