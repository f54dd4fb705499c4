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

soak: deps
	$(GO) test -count=1 -run '^TestSoak$$' -timeout 60m -v ./firmware/uplink/soak/

clean:
	rm -rf bin $(DATA)
