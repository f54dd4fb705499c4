// Package loadtest holds the central's load benchmarks (make bench): a
// fleet of simulated kiosks against one central process, and documents
// filed by 1, 2 and 4 ingest processes sharing one PostgreSQL. Everything
// runs on loopback and stops by itself; the sizes are set by EINWURF_BENCH_*
// environment variables (see the benchmarks' comments and
// docs/operations.md).
package loadtest
