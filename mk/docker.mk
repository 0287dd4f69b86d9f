# mk/docker.mk: the container image and its tests (issue 17).
#   make image        docker/base-image.sh (debian:bookworm-slim: pulled, or built locally with
#                     debootstrap from the configured apt mirror), then docker build of
#                     docker/Dockerfile as $(IMAGE); prints the image size
#   make test-image   make image, then docker/smoke.sh (one container: /ready, one request per
#                     model type, non-root, healthcheck, size, time to /ready, SIGTERM) and
#                     docker/replicas.sh (compose profile "replicas": 3 replicas behind nginx)
# Both need a Docker engine; without one they print "skipped: no engine" and succeed.
# Debian's docker.io client: /usr/bin/docker with BuildKit (another client on PATH may lack buildx).
DOCKER           ?= $(if $(wildcard /usr/bin/docker),/usr/bin/docker,docker)
IMAGE            ?= lmserve:latest
# Where the image's n-gram and vectors come from (a directory of the build context, laid out
# as docker/models.json names them): `make models` builds them into build/models in seconds.
# The Transformer is the one shipped in models/default/. Models shipped some other way: point
# IMAGE_MODELS_DIR at them, IMAGE_MODELS_DEP= (and adjust the exceptions in .dockerignore).
IMAGE_MODELS_DIR ?= build/models
IMAGE_MODELS_DEP ?= models
DOCKER_ENGINE     = $(DOCKER) info >/dev/null 2>&1

.PHONY: image test-image docker-deps
docker-deps:
	@sh tools/deps.sh docker

image:
	@if ! $(DOCKER_ENGINE); then echo "image: skipped: no engine"; exit 0; fi; \
	$(MAKE) --no-print-directory $(IMAGE_MODELS_DEP) && \
	DOCKER=$(DOCKER) sh docker/base-image.sh && \
	t0=$$(date +%s) && \
	DOCKER_BUILDKIT=1 $(DOCKER) build -q -f docker/Dockerfile --build-arg MODELS_DIR=$(IMAGE_MODELS_DIR) \
		-t $(IMAGE) . >/dev/null && \
	echo "image: $(IMAGE) built in $$(($$(date +%s) - t0)) s, $$(($$($(DOCKER) image inspect -f '{{.Size}}' $(IMAGE)) / 1000000)) MB"

test-image: image
	@if ! $(DOCKER_ENGINE); then echo "test-image: skipped: no engine"; exit 0; fi; \
	DOCKER=$(DOCKER) IMAGE=$(IMAGE) sh docker/smoke.sh && \
	DOCKER=$(DOCKER) IMAGE=$(IMAGE) sh docker/replicas.sh
