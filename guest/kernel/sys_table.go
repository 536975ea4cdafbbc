package kernel

// Linux x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl)
// that the library OS implements. Anything else returns ENOSYS and is logged
// once. One file per family: sys_mem.go, sys_thread.go, sys_time.go,
// sys_signal.go, sys_fd.go, sys_epoll.go, sys_proc.go.
const (
	sysRead           = 0
	sysWrite          = 1
	sysClose          = 3
	sysFstat          = 5
	sysLseek          = 8
	sysMmap           = 9
	sysMprotect       = 10
	sysMunmap         = 11
	sysBrk            = 12
	sysRtSigaction    = 13
	sysRtSigprocmask  = 14
	sysRtSigreturn    = 15
	sysIoctl          = 16
	sysPread64        = 17
	sysWritev         = 20
	sysSchedYield     = 24
	sysMincore        = 27
	sysMadvise        = 28
	sysDup            = 32
	sysDup2           = 33
	sysNanosleep      = 35
	sysGetpid         = 39
	sysClone          = 56
	sysExit           = 60
	sysKill           = 62
	sysUname          = 63
	sysFcntl          = 72
	sysGetcwd         = 79
	sysGettimeofday   = 96
	sysGetrlimit      = 97
	sysSysinfo        = 99
	sysGetuid         = 102
	sysGetgid         = 104
	sysGeteuid        = 107
	sysGetegid        = 108
	sysGetppid        = 110
	sysSigaltstack    = 131
	sysArchPrctl      = 158
	sysGettid         = 186
	sysTkill          = 200
	sysTime           = 201
	sysFutex          = 202
	sysSchedGetaff    = 204
	sysEpollCreate    = 213
	sysSetTIDAddress  = 218
	sysClockGettime   = 228
	sysClockGetres    = 229
	sysClockNanosleep = 230
	sysExitGroup      = 231
	sysEpollWait      = 232
	sysEpollCtl       = 233
	sysTgkill         = 234
	sysOpenat         = 257
	sysNewfstatat     = 262
	sysReadlinkat     = 267
	sysSetRobustList  = 273
	sysEpollPwait     = 281
	sysEventfd        = 284
	sysEventfd2       = 290
	sysEpollCreate1   = 291
	sysDup3           = 292
	sysPipe2          = 293
	sysPrlimit64      = 302
	sysGetrandom      = 318
	sysRseq           = 334
	sysPipe           = 22
	sysPrctl          = 157
	sysAccess         = 21
	sysStat           = 4
	sysLstat          = 6
	sysChdir          = 80
	sysGetdents64     = 217
	sysFaccessat      = 269
	sysFaccessat2     = 439
	sysOpen           = 2
	sysFchdir         = 81
	sysChmod          = 90
	sysFchmod         = 91
	sysGetgroups      = 115
	sysFchmodat       = 268
	sysUtimensat      = 280
	sysFchmodat2      = 452
	sysSymlink        = 88
	sysSymlinkat      = 266
	sysReadlink       = 89
	sysPwrite64       = 18
	sysFsync          = 74
	sysFdatasync      = 75
	sysTruncate       = 76
	sysFtruncate      = 77
	sysRename         = 82
	sysMkdir          = 83
	sysRmdir          = 84
	sysUnlink         = 87
	sysMkdirat        = 258
	sysUnlinkat       = 263
	sysRenameat       = 264
	sysRenameat2      = 316
	sysReadv          = 19
	sysPreadv         = 295
	sysPwritev        = 296
)

var sysTable = [...]sysFunc{
	sysRead:           sysReadImpl,
	sysWrite:          sysWriteImpl,
	sysClose:          sysCloseImpl,
	sysFstat:          sysFstatImpl,
	sysLseek:          sysLseekImpl,
	sysMmap:           sysMmapImpl,
	sysMprotect:       sysMprotectImpl,
	sysMunmap:         sysMunmapImpl,
	sysBrk:            sysBrkImpl,
	sysRtSigaction:    sysRtSigactionImpl,
	sysRtSigprocmask:  sysRtSigprocmaskImpl,
	sysRtSigreturn:    sysRtSigreturnImpl,
	sysIoctl:          sysIoctlImpl,
	sysPread64:        sysPread64Impl,
	sysWritev:         sysWritevImpl,
	sysSchedYield:     sysSchedYieldImpl,
	sysMincore:        sysMincoreImpl,
	sysMadvise:        sysMadviseImpl,
	sysDup:            sysDupImpl,
	sysDup2:           sysDup2Impl,
	sysNanosleep:      sysNanosleepImpl,
	sysGetpid:         sysGetpidImpl,
	sysClone:          sysCloneImpl,
	sysExit:           sysExitImpl,
	sysKill:           sysKillImpl,
	sysUname:          sysUnameImpl,
	sysFcntl:          sysFcntlImpl,
	sysGetcwd:         sysGetcwdImpl,
	sysGettimeofday:   sysGettimeofdayImpl,
	sysGetrlimit:      sysGetrlimitImpl,
	sysSysinfo:        sysSysinfoImpl,
	sysGetuid:         sysZeroImpl,
	sysGetgid:         sysZeroImpl,
	sysGeteuid:        sysZeroImpl,
	sysGetegid:        sysZeroImpl,
	sysGetppid:        sysZeroImpl,
	sysSigaltstack:    sysSigaltstackImpl,
	sysArchPrctl:      sysArchPrctlImpl,
	sysGettid:         sysGettidImpl,
	sysTkill:          sysTkillImpl,
	sysTime:           sysTimeImpl,
	sysFutex:          sysFutexImpl,
	sysSchedGetaff:    sysSchedGetaffinityImpl,
	sysEpollCreate:    sysEpollCreateImpl,
	sysSetTIDAddress:  sysSetTIDAddressImpl,
	sysClockGettime:   sysClockGettimeImpl,
	sysClockGetres:    sysClockGetresImpl,
	sysClockNanosleep: sysClockNanosleepImpl,
	sysExitGroup:      sysExitGroupImpl,
	sysEpollWait:      sysEpollWaitImpl,
	sysEpollCtl:       sysEpollCtlImpl,
	sysTgkill:         sysTgkillImpl,
	sysOpenat:         sysOpenatImpl,
	sysNewfstatat:     sysNewfstatatImpl,
	sysReadlinkat:     sysReadlinkatImpl,
	sysSetRobustList:  sysZeroImpl,
	sysEpollPwait:     sysEpollPwaitImpl,
	sysEventfd:        sysEventfdImpl,
	sysEventfd2:       sysEventfd2Impl,
	sysEpollCreate1:   sysEpollCreate1Impl,
	sysDup3:           sysDup3Impl,
	sysPipe2:          sysPipe2Impl,
	sysPipe:           sysPipeImpl,
	sysPrlimit64:      sysPrlimit64Impl,
	sysGetrandom:      sysGetrandomImpl,
	sysPrctl:          sysPrctlImpl,
	sysChdir:          sysChdirImpl,
	sysGetdents64:     sysGetdents64Impl,
	sysFaccessat:      sysFaccessatImpl,
	sysFaccessat2:     sysFaccessatImpl,
	sysOpen:           sysOpenImpl,
	sysFchdir:         sysFchdirImpl,
	sysChmod:          sysChmodImpl,
	sysFchmod:         sysFchmodImpl,
	sysFchmodat:       sysFchmodatImpl,
	sysFchmodat2:      sysFchmodatImpl,
	sysUtimensat:      sysUtimensatImpl,
	sysGetgroups:      sysZeroImpl,
	sysSymlink:        sysSymlinkImpl,
	sysSymlinkat:      sysSymlinkatImpl,
	sysReadlink:       sysReadlinkImpl,
	SysDMA:            sysDMAImpl,
	SysWaitDevice:     sysWaitDeviceImpl,
	sysPwrite64:       sysPwrite64Impl,
	sysFsync:          sysFsyncImpl,
	sysFdatasync:      sysFsyncImpl,
	sysTruncate:       sysTruncateImpl,
	sysFtruncate:      sysFtruncateImpl,
	sysRename:         sysRenameImpl,
	sysMkdir:          sysMkdirImpl,
	sysRmdir:          sysRmdirImpl,
	sysUnlink:         sysUnlinkImpl,
	sysMkdirat:        sysMkdiratImpl,
	sysUnlinkat:       sysUnlinkatImpl,
	sysRenameat:       sysRenameatImpl,
	sysRenameat2:      sysRenameatImpl,
	sysSocket:         sysSocketImpl,
	sysSocketpair:     sysSocketpairImpl,
	sysSplice:         sysEinvalImpl,
	sysSendfile:       sysEinvalImpl,
	sysReadv:          sysReadvImpl,
	sysPreadv:         sysPreadvImpl,
	sysPwritev:        sysPwritevImpl,
	sysConnect:        sysSockCallImpl,
	sysAccept:         sysSockCallImpl,
	sysAccept4:        sysSockCallImpl,
	sysSendto:         sysSockCallImpl,
	sysRecvfrom:       sysSockCallImpl,
	sysSendmsg:        sysSockCallImpl,
	sysRecvmsg:        sysSockCallImpl,
	sysShutdown:       sysSockCallImpl,
	sysBind:           sysSockCallImpl,
	sysListen:         sysSockCallImpl,
	sysGetsockname:    sysSockCallImpl,
	sysGetpeername:    sysSockCallImpl,
	sysSetsockopt:     sysSockCallImpl,
	sysGetsockopt:     sysSockCallImpl,
	SysSvcRegister:    sysSvcRegisterImpl,
	SysSvcWait:        sysSvcWaitImpl,
	SysSvcReady:       sysSvcReadyImpl,
	SysSvcAlloc:       sysSvcAllocImpl,
	SysSvcAddr:        sysSvcAddrImpl,
}

// sysNames names a few calls for the ENOSYS log.
var sysNames = [...]string{
	4: "stat", 6: "lstat", 7: "poll", 19: "readv", 18: "pwrite64", 21: "access",
	23: "select", 38: "setitimer", 41: "socket", 42: "connect", 43: "accept",
	44: "sendto", 45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 48: "shutdown",
	49: "bind", 50: "listen", 51: "getsockname", 52: "getpeername",
	54: "setsockopt", 55: "getsockopt", 61: "wait4", 74: "fsync", 77: "ftruncate",
	78: "getdents", 80: "chdir", 82: "rename", 83: "mkdir", 84: "rmdir",
	87: "unlink", 89: "readlink", 90: "chmod", 137: "statfs", 217: "getdents64",
	222: "timer_create", 223: "timer_settime", 226: "timer_delete", 288: "accept4",
	332: "statx", 334: "rseq", 435: "clone3", 439: "faccessat2",
}

// sysZeroImpl succeeds doing nothing (getuid and friends: the unikernel's
// only user is root-less uid 0; set_robust_list: no robust futexes needed).
func sysZeroImpl(t *thread) int64 { return 0 }
