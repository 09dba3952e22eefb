#!/usr/bin/env bash
# `make lambda-image-test`: the Lambda image runs its handler. Inside the image, with the root
# file system read-only, /tmp a tmpfs and an arbitrary non-root user (as Lambda runs images),
# deployment/lambda_smoke.py resolves the handler as the runtime interface client does and
# invokes it with API Gateway v1/v2 events for /health, /ready and /predict.
#   CONTAINER  docker, or the podman next to the repo (the Makefile picks)
#   IMAGE      the tag `make lambda-image` built
set -euo pipefail
CONTAINER=${CONTAINER:-docker}
IMAGE=${IMAGE:-breast-cancer-ml:lambda}
fail() { echo "lambda-image-test: FAIL: $*" >&2; exit 1; }

config=$("$CONTAINER" image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$IMAGE")
[ "$config" = '["python","-m","awslambdaric"] ["breast_cancer_ml.service.lambda_handler.handler"]' ] ||
  fail "unexpected ENTRYPOINT/CMD: $config"
handler=$("$CONTAINER" image inspect --format '{{index .Config.Cmd 0}}' "$IMAGE")
"$CONTAINER" run --rm -i --read-only --tmpfs /tmp --user 12345:12345 \
  --env BCML_LAMBDA_HANDLER="$handler" --entrypoint python "$IMAGE" - <deployment/lambda_smoke.py ||
  fail "the handler did not answer as expected"
bytes=$("$CONTAINER" image inspect --format '{{.Size}}' "$IMAGE")
echo "lambda-image-test: image $IMAGE is $((bytes / 1000000)) MB"
echo "lambda-image-test: PASS"
