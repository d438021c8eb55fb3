# reauth serve in a container (docs/DEPLOY.md).
# A static binary (no cgo: SQLite is pure Go) on an empty base image: no shell,
# no package manager, nothing but the binary, CA roots for Mono's API, and a
# state directory owned by the non-root user it runs as.
#   docker build --build-arg VERSION=$(git describe --always) -t reauth .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# The same build as `make build` (and deploy_test.go checks its result is static).
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/reauth . \
 && mkdir -p /out/state

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/reauth /reauth
COPY --from=build --chown=65532:65532 /out/state /var/lib/reauth
# State (host key unless REAUTH_SSH_HOST_KEY is given, the SQLite store unless
# --database-url / REAUTH_DATABASE_URL names PostgreSQL, the log) lives here.
ENV XDG_STATE_HOME=/var/lib/reauth HOME=/var/lib/reauth
VOLUME /var/lib/reauth
USER 65532:65532
# SSH for agents; the customers' pages; Mono's webhooks.
EXPOSE 23234 8080 8090
ENTRYPOINT ["/reauth"]
CMD ["serve"]
