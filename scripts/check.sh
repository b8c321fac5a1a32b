#!/usr/bin/env bash
# The test command: formatting, vet (also of the CUDA build where cuda.h is installed), every test
# (the CUDA kernels' too, through the emulator, where g++ is installed),
# and the race detector on the packages whose goroutines share state. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
if [ -f /usr/include/cuda.h ]; then
	go vet -tags cuda ./...
else
	echo "check: no cuda.h (QLORA_CUDA=1 scripts/setup.sh installs it): not vetting the CUDA build" >&2
fi
go test -count=1 ./...
if command -v g++ >/dev/null; then
	scripts/cuda-emu-test.sh
else
	echo "check: no g++ (QLORA_CUDA=1 scripts/setup.sh installs it): not running the CUDA emulator's tests" >&2
fi
go test -count=1 -race ./storage/ ./trainer/backend/cpu/ ./trainer/data/ ./trainer/run/ ./app/ ./ui/
