// nats-server for the real node's NATS image (hack/images.sh): the version the chart's
// nats.image.tag names (charts/autoclint/values.yaml). Debian's 2.9 rejects the chart's
// lame_duck_duration (below 2.9's 30 s minimum). Built static by hack/control-plane/build.sh.
module autoclint.local/nats

go 1.24.0

tool github.com/nats-io/nats-server/v2

require (
	github.com/klauspost/compress v1.17.11 // indirect
	github.com/minio/highwayhash v1.0.3 // indirect
	github.com/nats-io/jwt/v2 v2.7.3 // indirect
	github.com/nats-io/nats-server/v2 v2.10.24 // indirect
	github.com/nats-io/nkeys v0.4.9 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	go.uber.org/automaxprocs v1.6.0 // indirect
	golang.org/x/crypto v0.31.0 // indirect
	golang.org/x/sys v0.28.0 // indirect
	golang.org/x/time v0.8.0 // indirect
)
