package sqlitewal

import (
	"encoding/binary"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// VFSName is the name of the VFS that Register adds, for a DSN's vfs
// parameter.
const VFSName = "dittowal"

// The VFS this package registers is SQLite's own unix VFS with one change:
// what a connection writes to a write-ahead log goes out in one write per
// transaction (per 128 KiB of a larger one) instead of two per page.
//
// SQLite writes each WAL frame as two writes, its 24-byte header and then
// the page, each a pwrite system call. A transaction of the search index
// changes some hundreds of pages, and its system calls were ~40% of the CPU
// of BenchmarkWriteProperty. Here the frames a connection appends are
// gathered and written together when the frame that commits the
// transaction is complete, and at the latest when SQLite publishes new
// frames to readers (it writes the wal-index header around a memory
// barrier on the database file, which its connection's gathered bytes are
// written before): every frame a reader can see, and every byte of a
// committed transaction, is in the file as with the unix VFS, and a
// process that dies after a commit returned leaves it there. (The barrier
// alone would do; the commit frame comes first, so readers do not find the
// header half written meanwhile.) Every other call on the log (a read, a
// sync, its size, a truncation, closing it) and any write that does not
// continue the gathered ones writes them first, so the file reads as if
// each write had been made at once. A failed write of the gathered frames
// fails the call that made it: a commit fails, or a later read or write.
//
// The database file, its rollback journal and the shared memory are the
// unix VFS's, unchanged but for the barrier.

// walHeader is the size of a WAL frame header; the bytes 4-7 of one hold
// the size of the database after the transaction it commits, and are
// zero in the other frames of a transaction.
const walHeader = 24

// gatherMax bounds what a connection gathers before it writes (a larger
// transaction is written in parts). The unix VFS writes at most 128 KiB
// less one byte in one call: SQLite's pages are never larger than 64 KiB,
// and it masks the length of a write to 17 bits.
const gatherMax = 128<<10 - 1

// fileHeader is the room before the unix VFS's file in a log of this VFS:
// the sqlite3_file header, whose methods are this VFS's. Other files are
// the unix VFS's alone and leave the room unused.
const fileHeader = 8

var (
	registerOnce sync.Once
	registerErr  error

	// unixVFS is the unix VFS this one wraps; its methods do the work.
	unixVFS  uintptr
	unixOpen uintptr

	// walMethods are the methods of the logs of this VFS. It and the VFS
	// are C memory: SQLite's code reads them through plain addresses,
	// which the race detector's pointer checks allow only outside Go's.
	walMethods uintptr

	// logs are the open logs by their sqlite3_file.
	logs sync.Map // uintptr -> *walLog

	// logWrites counts the writes to logs that reached the unix VFS.
	logWrites atomic.Uint64

	// gathering holds the log each connection (by its *libc.TLS, which
	// every call it makes carries) has gathered bytes for.
	gathering sync.Map // *libc.TLS -> *walLog

	// dbMethods maps the methods of the unix VFS's database files to
	// copies whose xShmBarrier is dbShmBarrier; barriers, the other way.
	dbMu      sync.Mutex
	dbMethods = map[uintptr]uintptr{}
	barriers  sync.Map // copy -> the unix VFS's xShmBarrier
)

// DSN is the database/sql data source name of the SQLite file at path,
// opened through the VFS (Register it first) with pragmas.
func DSN(path string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Add("vfs", VFSName)
	return path + "?" + q.Encode()
}

// Register registers the VFS named VFSName; later calls return the first
// call's result. Call it before opening a database through the VFS.
func Register() error {
	registerOnce.Do(func() { registerErr = register() })
	return registerErr
}

// at is the C memory at address p. (Read through a pointer to p, so that
// vet does not take the address for a Go pointer kept as an integer.)
func at(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

func register() error {
	tls := libc.NewTLS()
	defer tls.Close()
	unixVFS = sqlite3.Xsqlite3_vfs_find(tls, 0)
	if unixVFS == 0 {
		return fmt.Errorf("sqlite: no default VFS")
	}
	name, err := libc.CString(VFSName)
	if err != nil {
		return err
	}
	vfs := libc.Xcalloc(tls, 1, sqlite3.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})))
	methods := libc.Xcalloc(tls, 1, sqlite3.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
	if vfs == 0 || methods == 0 {
		return fmt.Errorf("sqlite: register VFS %s: out of memory", VFSName)
	}
	v := (*sqlite3.Tsqlite3_vfs)(at(vfs))
	*v = *(*sqlite3.Tsqlite3_vfs)(at(unixVFS))
	unixOpen = v.FxOpen
	v.FzName = name
	v.FpNext = 0
	v.FszOsFile += fileHeader
	setFunc(&v.FxOpen, shimOpen)

	m := (*sqlite3.Tsqlite3_io_methods)(at(methods))
	m.FiVersion = 1 // no shared memory or mapping: those are the database file's
	setFunc(&m.FxClose, walClose)
	setFunc(&m.FxRead, walRead)
	setFunc(&m.FxWrite, walWrite)
	setFunc(&m.FxTruncate, walTruncate)
	setFunc(&m.FxSync, walSync)
	setFunc(&m.FxFileSize, walFileSize)
	setFunc(&m.FxLock, walLock)
	setFunc(&m.FxUnlock, walUnlock)
	setFunc(&m.FxCheckReservedLock, walCheckReservedLock)
	setFunc(&m.FxFileControl, walFileControl)
	setFunc(&m.FxSectorSize, walSectorSize)
	setFunc(&m.FxDeviceCharacteristics, walDeviceCharacteristics)
	walMethods = methods

	if rc := sqlite3.Xsqlite3_vfs_register(tls, vfs, 0); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: register VFS %s: error %d", VFSName, rc)
	}
	return nil
}

// setFunc stores fn in a C function pointer. fn is a top-level function,
// whose value is static: the garbage collector need not see the pointer.
func setFunc[F any](field *uintptr, fn F) {
	*(*F)(unsafe.Pointer(field)) = fn
}

// walLog is an open write-ahead log: the unix VFS's file and what its
// connection has gathered for it. One connection uses a file at a time.
type walLog struct {
	real    uintptr // the unix VFS's sqlite3_file
	methods *sqlite3.Tsqlite3_io_methods

	buf    uintptr // C memory of gatherMax bytes; 0 until the first write
	n      int     // bytes gathered in buf
	off    int64   // where buf goes in the file
	commit bool    // the last frame header gathered commits a transaction
	// failed is the error of a write made at a barrier, which the next
	// call on the log returns.
	failed int32
}

func shimOpen(tls *libc.TLS, _ uintptr, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	open := *(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&unixOpen))
	if flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		// Not a log: the unix VFS's file at the start of the room; a
		// database's methods are a copy with our barrier.
		rc := open(tls, unixVFS, zName, pFile, flags, pOutFlags)
		if rc == sqlite3.SQLITE_OK && flags&sqlite3.SQLITE_OPEN_MAIN_DB != 0 {
			file := (*sqlite3.Tsqlite3_file)(at(pFile))
			if file.FpMethods != 0 {
				if file.FpMethods = withBarrier(tls, file.FpMethods); file.FpMethods == 0 {
					return sqlite3.SQLITE_NOMEM
				}
			}
		}
		return rc
	}
	file := (*sqlite3.Tsqlite3_file)(at(pFile))
	file.FpMethods = 0 // SQLite closes no file whose open failed
	real := pFile + fileHeader
	if rc := open(tls, unixVFS, zName, real, flags, pOutFlags); rc != sqlite3.SQLITE_OK {
		return rc
	}
	realMethods := (*sqlite3.Tsqlite3_file)(at(real)).FpMethods
	if realMethods == 0 {
		return sqlite3.SQLITE_CANTOPEN
	}
	logs.Store(pFile, &walLog{real: real, methods: (*sqlite3.Tsqlite3_io_methods)(at(realMethods))})
	file.FpMethods = walMethods
	return sqlite3.SQLITE_OK
}

// withBarrier returns the copy of a database file's methods whose
// xShmBarrier is dbShmBarrier (made once per set of methods); 0 when out
// of memory. The unix VFS's code does not compare a file's methods with
// its own.
func withBarrier(tls *libc.TLS, methods uintptr) uintptr {
	dbMu.Lock()
	defer dbMu.Unlock()
	if c, ok := dbMethods[methods]; ok {
		return c
	}
	c := libc.Xcalloc(tls, 1, sqlite3.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
	if c == 0 {
		return 0
	}
	m := (*sqlite3.Tsqlite3_io_methods)(at(c))
	*m = *(*sqlite3.Tsqlite3_io_methods)(at(methods))
	if m.FxShmBarrier == 0 {
		libc.Xfree(tls, c)
		return methods
	}
	barriers.Store(c, m.FxShmBarrier)
	setFunc(&m.FxShmBarrier, dbShmBarrier)
	dbMethods[methods] = c
	return c
}

// dbShmBarrier is the database file's memory barrier, which SQLite's
// commit passes between the two copies of the wal-index header it
// writes: the connection's gathered bytes are written first.
func dbShmBarrier(tls *libc.TLS, pFile uintptr) {
	if l, ok := gathering.Load(tls); ok {
		// The barrier has no result: a failed write fails the next call
		// on the log, which returns the error it keeps.
		if rc := l.(*walLog).flush(tls); rc != sqlite3.SQLITE_OK {
			l.(*walLog).failed = rc
		}
	}
	barrier, _ := barriers.Load((*sqlite3.Tsqlite3_file)(at(pFile)).FpMethods)
	fn := barrier.(uintptr)
	(*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&fn)))(tls, pFile)
}

func logOf(pFile uintptr) *walLog {
	l, _ := logs.Load(pFile)
	return l.(*walLog)
}

// flush writes what is gathered, or returns the error of a write made at
// a barrier.
func (l *walLog) flush(tls *libc.TLS) int32 {
	if rc := l.failed; rc != sqlite3.SQLITE_OK {
		l.failed = sqlite3.SQLITE_OK
		return rc
	}
	if l.n == 0 {
		return sqlite3.SQLITE_OK
	}
	rc := l.write(tls, l.buf, int32(l.n), l.off)
	l.n = 0
	l.commit = false
	gathering.CompareAndDelete(tls, l)
	return rc
}

func (l *walLog) write(tls *libc.TLS, p uintptr, n int32, off int64) int32 {
	logWrites.Add(1)
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&l.methods.FxWrite)))(tls, l.real, p, n, off)
}

func walWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	l := logOf(pFile)
	n := int(iAmt)
	follows := l.n > 0 && iOfst == l.off+int64(l.n)
	// The page of a frame whose header, just gathered, marks a commit:
	// with it the transaction is complete.
	completes := follows && l.commit && n != walHeader
	if l.failed != sqlite3.SQLITE_OK || (l.n > 0 && (!follows || l.n+n > gatherMax)) {
		if rc := l.flush(tls); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	if n > gatherMax {
		return l.write(tls, zBuf, iAmt, iOfst)
	}
	if l.buf == 0 {
		if l.buf = libc.Xmalloc(tls, gatherMax); l.buf == 0 {
			return l.write(tls, zBuf, iAmt, iOfst)
		}
	}
	if l.n == 0 {
		l.off = iOfst
		if prev, ok := gathering.Load(tls); ok && prev.(*walLog) != l {
			// A connection writing two logs (attached databases): the
			// barrier knows one, so the other's bytes go now.
			if rc := prev.(*walLog).flush(tls); rc != sqlite3.SQLITE_OK {
				return rc
			}
		}
		gathering.Store(tls, l)
	}
	libc.Xmemcpy(tls, l.buf+uintptr(l.n), zBuf, sqlite3.Tsize_t(n))
	l.n += n
	if n == walHeader {
		l.commit = binary.BigEndian.Uint32(unsafe.Slice((*byte)(at(zBuf+4)), 4)) != 0
		return sqlite3.SQLITE_OK
	}
	if completes {
		return l.flush(tls)
	}
	return sqlite3.SQLITE_OK
}

func walClose(tls *libc.TLS, pFile uintptr) int32 {
	l := logOf(pFile)
	rc := l.flush(tls)
	closeFn := *(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&l.methods.FxClose))
	if rc2 := closeFn(tls, l.real); rc == sqlite3.SQLITE_OK {
		rc = rc2
	}
	if l.buf != 0 {
		libc.Xfree(tls, l.buf)
	}
	logs.Delete(pFile)
	return rc
}

func walRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	l := logOf(pFile)
	if rc := l.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&l.methods.FxRead)))(tls, l.real, zBuf, iAmt, iOfst)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	l := logOf(pFile)
	if rc := l.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&l.methods.FxTruncate)))(tls, l.real, size)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	l := logOf(pFile)
	if rc := l.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&l.methods.FxSync)))(tls, l.real, flags)
}

func walFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	l := logOf(pFile)
	if rc := l.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&l.methods.FxFileSize)))(tls, l.real, pSize)
}

func walLock(tls *libc.TLS, pFile uintptr, level int32) int32 {
	l := logOf(pFile)
	if rc := l.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&l.methods.FxLock)))(tls, l.real, level)
}

func walUnlock(tls *libc.TLS, pFile uintptr, level int32) int32 {
	l := logOf(pFile)
	if rc := l.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&l.methods.FxUnlock)))(tls, l.real, level)
}

func walCheckReservedLock(tls *libc.TLS, pFile, pResOut uintptr) int32 {
	l := logOf(pFile)
	if rc := l.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&l.methods.FxCheckReservedLock)))(tls, l.real, pResOut)
}

func walFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	l := logOf(pFile)
	if rc := l.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&l.methods.FxFileControl)))(tls, l.real, op, pArg)
}

// The two questions below do not depend on what is written.

func walSectorSize(tls *libc.TLS, pFile uintptr) int32 {
	l := logOf(pFile)
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&l.methods.FxSectorSize)))(tls, l.real)
}

func walDeviceCharacteristics(tls *libc.TLS, pFile uintptr) int32 {
	l := logOf(pFile)
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&l.methods.FxDeviceCharacteristics)))(tls, l.real)
}
