# A static ferry image: bin/ferry (built-in plugins inside) and the SDK example plugins, as `make build plugins` builds them.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0
RUN make build plugins VERSION=$VERSION

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/ferry /usr/local/bin/ferry
COPY --from=build /src/bin/plugins /usr/local/bin/plugins
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ferry"]
