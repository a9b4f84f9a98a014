//go:build darwin || freebsd

package wazero

const mapNoReserve = 0
