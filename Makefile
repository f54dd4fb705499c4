# Einwurf: make run | make test | make bench | make soak
GO      ?= go
DATA    ?= ./var
PKGS    ?= ./...
export CGO_ENABLED = 1

.PHONY: all build deps run demo test unit bench soak fuzz vet clean

all: build

deps:
	@bash .ci/deps

# einwurfd is the kiosk's binary; einwurf-sim the appliance in simulation.
build: deps
	$(GO) build -o bin/einwurfd ./firmware/cmd/einwurfd
	$(GO) build -o bin/einwurf-sim ./firmware/cmd/einwurf-sim
	$(GO) build -o bin/einwurf-central ./central/cmd/einwurf-central

# make run ARGS='-broker 127.0.0.1:1884 -v' passes flags on.
run: build
	./bin/einwurf-sim -data $(DATA) $(ARGS)

demo: build
	./bin/einwurf-sim -demo -data $(DATA) $(ARGS)

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
