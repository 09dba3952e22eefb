#!/usr/bin/env bash
# `make image-test`: run the built image on 127.0.0.1 and check it as a client would.
#   CONTAINER     docker, or the podman next to the repo (the Makefile picks)
#   IMAGE         the tag `make image` built
#   BAKED_MODEL   the model folder `make image` baked in (build/image-model/latest), if any
#   MODELS_DIR    a model store to mount at run time (default: models, when it has latest/)
#   MAX_IMAGE_MB  fail above this size (default 0: report only)
# Checks, with the root file system read-only and /tmp a tmpfs (as the ECS task runs it):
# /ready within READY_TIMEOUT s, /model/info names the baked-in run (the key cd.yml reads), the
# README's curl example predicts malignant (1), /ui and /docs answer with their assets (no CDN),
# the container's user is not root, the image's
# HEALTHCHECK passes, no training stack in the image. Then the other two ways to get a model in:
# a store made from MODELS_DIR/latest, mounted read-only over /app/models, is what is served; an
# empty mount gives /health 200 and /ready 503. Then a model of EVERY candidate of the estimator
# registry (deployment/candidate_models.py, fitted on the host with BCML_PYTHON) is mounted and
# served in turn, and a pipeline holding an estimator outside the allowlist is refused. Prints
# the image size and the size of its layers above the base image (BASE_IMAGE).
set -euo pipefail
CONTAINER=${CONTAINER:-docker}
IMAGE=${IMAGE:-breast-cancer-ml:local}
READY_TIMEOUT=${READY_TIMEOUT:-60}
MAX_IMAGE_MB=${MAX_IMAGE_MB:-0}
BAKED_MODEL=${BAKED_MODEL:-}
MODELS_DIR=${MODELS_DIR:-models}
PY=${PYTHON:-python3}
BCML_PYTHON=${BCML_PYTHON:-.venv/bin/python}  # has breast_cancer_ml and the training stack
BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim}
MAX_LAYERS_MB=${MAX_LAYERS_MB:-0}

fail() { echo "image-test: FAIL: $*" >&2; exit 1; }
names=()
tmp_dirs=()
cleanup() {
  local n
  for n in "${names[@]}"; do
    if [ "${keep_logs:-0}" = 1 ]; then
      echo "---- logs of $n" >&2
      "$CONTAINER" logs "$n" 2>&1 | tail -n 30 >&2 || true
    fi
    "$CONTAINER" rm --force "$n" >/dev/null 2>&1 || true
  done
  [ "${#tmp_dirs[@]}" = 0 ] || rm -rf "${tmp_dirs[@]}"
}
trap cleanup EXIT
keep_logs=1

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# status URL -> HTTP status (0 when nothing answers)
status() {
  "$PY" - "$1" <<'PYEOF'
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print(0)
PYEOF
}

# json_get URL KEY -> the top-level KEY of the JSON answer
json_get() {
  "$PY" -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))[sys.argv[2]])' "$1" "$2"
}

# start NAME PORT [run options...]: the image, read-only root, /tmp a tmpfs, port on 127.0.0.1
start() {
  local name=$1 port=$2
  shift 2
  names+=("$name")
  "$CONTAINER" run --detach --name "$name" --read-only --tmpfs /tmp \
    --publish "127.0.0.1:$port:8000" "$@" "$IMAGE" >/dev/null
}

# wait_for NAME URL STATUS: until URL answers STATUS (the container must keep running)
wait_for() {
  local name=$1 url=$2 want=$3 t0=$SECONDS
  until [ "$(status "$url")" = "$want" ]; do
    running=$("$CONTAINER" inspect --format '{{.State.Running}}' "$name" 2>/dev/null || echo false)
    [ "$running" = true ] || fail "$name exited before $url answered $want"
    [ $((SECONDS - t0)) -lt "$READY_TIMEOUT" ] || fail "$url did not answer $want within ${READY_TIMEOUT}s"
    sleep 0.5
  done
  echo "image-test: $url -> $want after $((SECONDS - t0))s"
}

run_id_of() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["run_id"])' "$1/promotion_metadata.json"; }

predict_malignant() {
  "$PY" - "$1/predict" <<'PYEOF' || fail "prediction check on $1"
import json, sys, urllib.request
body = {"features": [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]}
req = urllib.request.Request(
    sys.argv[1], data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
)
with urllib.request.urlopen(req, timeout=10) as resp:
    answer = json.load(resp)
print("image-test: /predict ->", json.dumps(answer))
if answer.get("prediction") != 1:
    sys.exit(f"expected prediction 1 (malignant), got {answer.get('prediction')!r}")
PYEOF
}

# ---- 1. the image as built (model baked in when make image found one) -----------------------
[ -n "$BAKED_MODEL" ] && [ -f "$BAKED_MODEL/promotion_metadata.json" ] ||
  fail "no model baked into $IMAGE (BAKED_MODEL=${BAKED_MODEL:-unset}): run \`make run\` first"
name="bcml-image-test-$$"
port=$(free_port)
url="http://127.0.0.1:$port"
echo "image-test: starting $IMAGE on 127.0.0.1:$port (read-only root, tmpfs /tmp)"
start "$name" "$port"
wait_for "$name" "$url/ready" 200
served=$(json_get "$url/model/info" run_id)
baked=$(run_id_of "$BAKED_MODEL")
[ "$served" = "$baked" ] || fail "/model/info run_id is $served, the baked-in model is $baked"
echo "image-test: /model/info run_id $served = the baked-in model"
predict_malignant "$url"
# the page and the offline docs ship in the image: their files are package data
for path in /ui /ui/ui.js /ui/ui.css /ui/config.json /docs /static/docs/swagger-ui-bundle.js \
  /static/docs/swagger-ui.css; do
  [ "$(status "$url$path")" = 200 ] || fail "$path does not answer 200"
done
echo "image-test: /ui and /docs answer 200 with their assets"
if [ -f "$BAKED_MODEL/MODEL_CARD.md" ]; then  # a model promoted with its card (issue 12)
  "$PY" - "$url/model/card" "$BAKED_MODEL/MODEL_CARD.md" <<'PYEOF' || fail "/model/card is not the baked-in MODEL_CARD.md"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    assert r.headers["content-type"].startswith("text/markdown"), r.headers["content-type"]
    served = r.read()
assert served == open(sys.argv[2], "rb").read()
PYEOF
  echo "image-test: /model/card = the baked-in MODEL_CARD.md"
fi

uid=$("$CONTAINER" exec "$name" id -u)
[ "$uid" != 0 ] || fail "the service runs as root"
echo "image-test: container user uid=$uid ($("$CONTAINER" exec "$name" id -un))"

health=$("$CONTAINER" image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
case "$health" in *"/health"*) ;; *) fail "no HEALTHCHECK on /health in the image config: $health" ;; esac
# The HEALTHCHECK command itself must pass inside the container. podman runs health checks
# from systemd timers, absent here, so run it once by hand; docker runs it every 30 s.
case "$CONTAINER" in
  *podman*)
    "$CONTAINER" healthcheck run "$name" >/dev/null 2>&1 || fail "the image's HEALTHCHECK fails"
    ;;
  *)
    deadline=$((SECONDS + 75))
    until [ "$("$CONTAINER" inspect --format '{{.State.Health.Status}}' "$name")" = healthy ]; do
      [ "$SECONDS" -lt "$deadline" ] || fail "the container did not report healthy in 75s"
      sleep 2
    done
    ;;
esac
echo "image-test: HEALTHCHECK on /health passes"

"$CONTAINER" exec "$name" python -c "import importlib.util as u, sys; \
bad = [m for m in ('mlflow', 'pandas', 'matplotlib', 'pip') if u.find_spec(m)]; \
sys.exit(f'training stack in the serving image: {bad}' if bad else 0)" || fail "image contents"

# ---- 2. a model store mounted at run time over /app/models ----------------------------------
# A copy of MODELS_DIR/latest as a store of its own (latest -> history/<id> symlink, as `bcml
# train` publishes), its run id changed so that serving it cannot be confused with the baked one.
if [ -e "$MODELS_DIR/latest" ]; then
  store=$(mktemp -d)
  tmp_dirs+=("$store")
  mkdir -p "$store/history"
  cp -RL "$MODELS_DIR/latest" "$store/history/mounted-check"
  "$PY" - "$store/history/mounted-check/promotion_metadata.json" <<'PYEOF'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["run_id"] = "mounted-" + doc["run_id"]
json.dump(doc, open(sys.argv[1], "w"))
PYEOF
  # a deliberate copy under a new run id: seal its metadata as the publisher does (the sidecar
  # is `sha256sum` output), or the service rightly refuses it as modified after promotion
  (cd "$store/history/mounted-check" && sha256sum promotion_metadata.json >promotion_metadata.sha256)
  ln -s history/mounted-check "$store/latest"
  chmod -R a+rX "$store"
  mounted=$(run_id_of "$store/latest")
  port=$(free_port)
  url="http://127.0.0.1:$port"
  echo "image-test: starting $IMAGE with a model store mounted read-only at /app/models"
  start "$name-mounted" "$port" --volume "$store:/app/models:ro"
  wait_for "$name-mounted" "$url/ready" 200
  served=$(json_get "$url/model/info" run_id)
  [ "$served" = "$mounted" ] || fail "mounted store: serving $served, expected $mounted"
  echo "image-test: /model/info run_id $served = the mounted store's latest"
  predict_malignant "$url"
else
  echo "image-test: no $MODELS_DIR/latest: mounted-model check skipped"
fi

# ---- 3. no model: an empty store mounted --------------------------------------------------
empty_dir=$(mktemp -d)
tmp_dirs+=("$empty_dir")
chmod 755 "$empty_dir"
port=$(free_port)
url="http://127.0.0.1:$port"
start "$name-empty" "$port" --volume "$empty_dir:/app/models:ro"
wait_for "$name-empty" "$url/health" 200
[ "$(status "$url/ready")" = 503 ] || fail "no model: /ready should answer 503"
echo "image-test: no model mounted: /health 200, /ready 503"

# ---- 4. a model of every registry candidate, and one outside the allowlist ------------------
candidates=$(mktemp -d)
tmp_dirs+=("$candidates")
"$BCML_PYTHON" deployment/candidate_models.py "$candidates" >"$candidates/names.txt" ||
  fail "could not fit the registry's candidates with $BCML_PYTHON"
chmod -R a+rX "$candidates"
while read -r candidate; do
  port=$(free_port)
  url="http://127.0.0.1:$port"
  start "$name-$candidate" "$port" --volume "$candidates/$candidate:/app/models:ro"
  if [ "$candidate" = foreign ]; then
    wait_for "$name-$candidate" "$url/health" 200
    reason=$("$PY" -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["model"]["error"])' "$url/health")
    [ "$(status "$url/ready")" = 503 ] && [ "$reason" = untrusted_type ] ||
      fail "a model outside the allowlist: expected /ready 503 untrusted_type, got $reason"
    echo "image-test: a GaussianNB pipeline is refused: untrusted_type"
  else
    wait_for "$name-$candidate" "$url/ready" 200
    served=$(json_get "$url/model/info" run_id)
    [ "$served" = "image-$candidate" ] || fail "$candidate: serving $served"
    predict_malignant "$url"
  fi
  "$CONTAINER" rm --force "$name-$candidate" >/dev/null 2>&1 || true
done <"$candidates/names.txt"

bytes=$("$CONTAINER" image inspect --format '{{.Size}}' "$IMAGE")
mb=$((bytes / 1000000))
base_bytes=$("$CONTAINER" image inspect --format '{{.Size}}' "$BASE_IMAGE" 2>/dev/null || echo 0)
layers_mb=$(((bytes - base_bytes) / 1000000))
echo "image-test: image $IMAGE is $mb MB; its layers above $BASE_IMAGE are $layers_mb MB"
if [ "$MAX_IMAGE_MB" -gt 0 ] && [ "$mb" -gt "$MAX_IMAGE_MB" ]; then
  fail "image is $mb MB, over MAX_IMAGE_MB=$MAX_IMAGE_MB"
fi
if [ "$MAX_LAYERS_MB" -gt 0 ] && [ "$base_bytes" -gt 0 ] && [ "$layers_mb" -gt "$MAX_LAYERS_MB" ]; then
  fail "the layers above $BASE_IMAGE are $layers_mb MB, over MAX_LAYERS_MB=$MAX_LAYERS_MB"
fi
keep_logs=0
echo "image-test: PASS"
