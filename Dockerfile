# The kargo image for a cluster installation (`kargo install --image ...`):
# one glibc binary running every process (`controller`, `webhook-server`,
# `server`) on gcr.io/distroless/cc, as non-root (uid 65532).
#
# Not built in CI (no container runtime or registry there): build it with
#   docker build -t registry.example/kargo:TAG .
#
# The controller runs git (and ssh for ssh:// and scp-like repository
# URLs) as child processes, and distroless/cc has neither, so git, ssh and
# the shared libraries they load are copied in from Debian bookworm — the
# release distroless/cc-debian12 is built from, so the glibc matches.

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kargo-cli \
 && install -D -m 0755 target/release/kargo /out/usr/local/bin/kargo

FROM debian:bookworm-slim AS tools
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# git, its helpers and ssh, with every library they link that distroless/cc
# lacks (it has glibc, libgcc and libstdc++ already).
RUN mkdir -p /out \
 && for f in /usr/bin/git /usr/bin/ssh /usr/lib/git-core/git-remote-http /usr/lib/git-core/git-remote-https; do \
      cp --parents -L "$f" /out; \
      ldd "$f" | awk '/=>/ { print $3 }' | while read -r lib; do \
        case "$lib" in */libc.so*|*/libm.so*|*/libgcc_s.so*|*/libstdc++.so*|*/ld-linux*) ;; \
          *) cp --parents -L "$lib" /out ;; esac; \
      done; \
    done \
 && cp -a --parents /usr/lib/git-core /usr/share/git-core /out

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=tools /out/ /
COPY --from=build /out/ /
USER 65532:65532
ENV HOME=/var/lib/kargo
ENTRYPOINT ["/usr/local/bin/kargo"]
CMD ["--help"]
