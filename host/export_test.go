package host

// Internals the external tests (package host_test) reach.
var CheckRunConfig = (*RunConfig).check
