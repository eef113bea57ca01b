module github.com/dittonats/dittonats/streams

go 1.26

require github.com/dittonats/dittonats/protocol v0.0.0

replace github.com/dittonats/dittonats/protocol => ../protocol
