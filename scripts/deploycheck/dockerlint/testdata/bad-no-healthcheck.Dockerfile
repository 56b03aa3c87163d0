# syntax=docker/dockerfile:1
FROM golang:1.26-alpine AS build
ARG VERSION=dev
WORKDIR /src
COPY app/ app/
WORKDIR /src/app
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /out/app ./cmd/app

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="app" \
      org.opencontainers.image.description="an app" \
      org.opencontainers.image.source="https://example.com/app" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/app /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["app"]
