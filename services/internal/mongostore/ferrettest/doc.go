// Package ferrettest starts an embedded FerretDB (SQLite back end, temporary
// directory) for tests of MongoDB code, so they run the real wire protocol
// without a MongoDB server. Only _test.go files may import it: FerretDB must
// never link into a service binary.
package ferrettest
