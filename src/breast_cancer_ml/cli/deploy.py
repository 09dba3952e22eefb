"""Arguments and handler of ``bcml deploy``; boto3 is imported only when a command runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breast_cancer_ml.errors import ConfigError

if TYPE_CHECKING:
    from breast_cancer_ml.deploy.aws import EcsResult


def add_parser(sub: Any) -> None:
    """Register ``bcml deploy ecs|beanstalk|bundle`` on the top-level subparsers."""
    deploy = sub.add_parser(
        "deploy",
        help="roll a released image out to AWS (ECS Fargate or Elastic Beanstalk)",
        description="Deploy an image already in ECR; used by .github/workflows/cd.yml. "
        "AWS credentials and region come from the usual boto3 sources (AWS_REGION, the "
        "OIDC role, AWS_ENDPOINT_URL for a stand-in). Needs the `aws` extra.",
    )
    targets = deploy.add_subparsers(dest="target", metavar="TARGET", required=True)

    def common(p: argparse.ArgumentParser, timeout: float) -> None:
        p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION)")
        p.add_argument("--timeout", type=float, default=timeout, help="seconds to wait at most")
        p.add_argument("--poll", type=float, default=15, help="seconds between status checks")
        p.add_argument("--no-wait", action="store_true", help="return once the update starts")
        p.add_argument(
            "--check-url",
            default=None,
            help="after the rollout, wait for this URL to answer 200; for an ECS service with "
            "an API key, a POST to 'predict' beside it without the key must then answer 401",
        )

    ecs = targets.add_parser("ecs", help="new task definition revision with --image, roll out")
    ecs.add_argument("--cluster", required=True)
    ecs.add_argument("--service", required=True)
    ecs.add_argument("--image", required=True, help="full image URI (registry/repo:tag)")
    ecs.add_argument("--container", default=None, help="container to update (if several)")
    common(ecs, 900)

    eb = targets.add_parser("beanstalk", help="new application version, update environment")
    eb.add_argument("--application", required=True)
    eb.add_argument("--environment", required=True)
    eb.add_argument("--version-label", required=True)
    eb.add_argument("--bucket", required=True, help="S3 bucket of the source bundle")
    eb.add_argument("--key", default=None, help="S3 key (default: <application>/<label>.zip)")
    eb.add_argument("--image", default=None, help="build the bundle for this image URI")
    eb.add_argument(
        "--dockerrun",
        type=Path,
        default=Path("deployment/Dockerrun.aws.json"),
        help="Dockerrun.aws.json template (its .ebextensions/ go along)",
    )
    eb.add_argument("--bundle", type=Path, default=None, help="upload this ready bundle instead")
    common(eb, 1200)

    bundle = targets.add_parser("bundle", help="only write the Beanstalk source bundle")
    bundle.add_argument("--image", required=True)
    bundle.add_argument("--dockerrun", type=Path, default=Path("deployment/Dockerrun.aws.json"))
    bundle.add_argument("--out", type=Path, required=True)

    check = targets.add_parser("check-run", help="validate a run_summary.json (CI and CD)")
    check.add_argument("summary", type=Path)
    kind = check.add_mutually_exclusive_group()
    kind.add_argument("--smoke", action="store_true", help="it must be a smoke run")
    kind.add_argument(
        "--promoted", action="store_true", help="it must be promoted (exit 3 otherwise)"
    )
    check.add_argument(
        "--artifacts", action="store_true", help="its MLflow artifacts must exist locally"
    )

    release = targets.add_parser(
        "release-files", help="run_summary.json, metrics.json, MODEL_CARD.md for a release"
    )
    release.add_argument("--model-dir", type=Path, default=Path("models/latest"))
    release.add_argument("--out", type=Path, default=Path("build/release"))
    deploy.set_defaults(handler=run)


def _client(service: str, region: str | None) -> Any:
    try:
        import boto3
    except ImportError:
        raise ConfigError("bcml deploy needs boto3: pip install 'breast-cancer-ml[aws]'") from None
    return boto3.client(service, region_name=region or os.environ.get("AWS_REGION"))


def run(args: argparse.Namespace) -> int:
    from breast_cancer_ml.deploy import aws

    result: Any
    if args.target in ("check-run", "release-files"):
        return _release(args)
    if args.target == "bundle":
        out = aws.build_beanstalk_bundle(args.dockerrun, args.image, args.out)
        print(json.dumps({"bundle": str(out), "image": args.image}))
        return 0
    if args.target == "ecs":
        result = aws.deploy_ecs(
            _client("ecs", args.region),
            args.cluster,
            args.service,
            args.image,
            container=args.container,
            timeout=args.timeout,
            delay=args.poll,
            wait=not args.no_wait,
        )
    else:
        bundle = args.bundle
        if bundle is None:
            if args.image is None:
                raise ConfigError("bcml deploy beanstalk: give --image (or a ready --bundle)")
            bundle = Path("build") / f"beanstalk-{args.version_label}.zip"
            aws.build_beanstalk_bundle(args.dockerrun, args.image, bundle)
        key = args.key or f"{args.application}/{args.version_label}.zip"
        result = aws.deploy_beanstalk(
            _client("elasticbeanstalk", args.region),
            _client("s3", args.region),
            args.application,
            args.environment,
            args.version_label,
            args.bucket,
            key,
            bundle=bundle,
            timeout=args.timeout,
            delay=args.poll,
            wait=not args.no_wait,
        )
    if args.check_url and not args.no_wait:
        aws.wait_http_ready(args.check_url, timeout=args.timeout, delay=min(args.poll, 5))
    if args.target == "ecs":
        _api_key_checks(result, args.check_url if not args.no_wait else None)
    print(json.dumps({"target": args.target, **asdict(result)}))
    return 0


def _api_key_checks(result: EcsResult, check_url: str | None) -> None:
    """Say plainly when the service runs without a protected key; with a key and a
    ``--check-url``, prove the live service refuses a prediction without it."""
    from breast_cancer_ml.deploy import aws

    if result.api_key == "none":
        print(
            f"WARNING: {result.cluster}/{result.service} runs without an API key "
            "(ecs-service stack with RequireApiKey=false?): anyone who reaches it gets "
            "predictions. See docs/deployment.md.",
            file=sys.stderr,
            flush=True,
        )
        return
    if result.api_key == "environment":
        print(
            f"WARNING: {result.cluster}/{result.service} gets BCML_API_KEY as a plain "
            "environment variable: anyone allowed to describe its task definition can read "
            "it. Inject it from Secrets Manager (the ecs-service stack does).",
            file=sys.stderr,
            flush=True,
        )
    if check_url:
        aws.check_api_key_enforced(urllib.parse.urljoin(check_url, "predict"))


def _release(args: argparse.Namespace) -> int:
    from breast_cancer_ml.deploy import release

    if args.target == "check-run":
        summary = release.check_run_summary(
            args.summary,
            expect_smoke=True if args.smoke else None,
            require_promoted=args.promoted,
            check_artifacts=args.artifacts,
        )
        print(
            f"{args.summary}: valid; run {summary.run_id}, smoke={summary.smoke}, "
            f"promoted={summary.promoted}, cv_recall_mean="
            f"{summary.metrics['cv_recall_mean']:.4f}"
        )
        return 0
    for path in release.write_release_files(args.model_dir, args.out):
        print(path)
    return 0
