package wazero

import "syscall"

const mapNoReserve = syscall.MAP_NORESERVE
