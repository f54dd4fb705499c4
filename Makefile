# Einwurf: make run | make test | make bench | make soak
GO      ?= go
DATA    ?= ./var
PKGS    ?= ./...
export CGO_ENABLED = 1

.PHONY: all build deps run demo test unit bench soak fuzz vet clean

all: build

deps:
	@bash .ci/deps

build: deps
	$(GO) build -o bin/einwurfd ./firmware/cmd/einwurfd
	$(GO) build -o bin/einwurf-central ./central/cmd/einwurf-central

run: build
	./bin/einwurfd -sim -data $(DATA)

demo: build
	./bin/einwurfd -sim -demo -data $(DATA)

test: deps
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 40m $(PKGS)

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x -timeout 40m $(PKGS)

# The soak's summary line ("soak: N runs, L lost, D duplicated") is printed
# again last, after go test's own verdict; the exit status is the test's.
soak: deps
	@log=$$(mktemp); SOAK_RUNS=$${SOAK_RUNS:-50} $(GO) test -count=1 -run '^TestSoak$$' -timeout 60m -v ./firmware/uplink/soak/ >$$log 2>&1; \
	status=$$?; cat $$log; grep '^soak:' $$log | tail -1; rm -f $$log; exit $$status

clean:
	rm -rf bin $(DATA)
