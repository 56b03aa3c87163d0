# syntax=docker/dockerfile:1
FROM golang:1.26-alpine 
ARG VERSION=dev
WORKDIR /src
COPY app/ app/
WORKDIR /src/app
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /out/app ./cmd/app

USER 65532
HEALTHCHECK CMD ["app","healthcheck"]
