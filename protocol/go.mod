module github.com/dittonats/dittonats/protocol

go 1.26
