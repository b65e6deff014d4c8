# InsightConnect's packaging: Rapid7's slim Python plugin image, with this plugin's own runner as
# the entrypoint (InsightConnect starts the container with `run`, `test` or `info`).
FROM --platform=linux/amd64 rapid7/insightconnect-python-3-slim-plugin:6.6.0

LABEL organization=pagerduty-plugin
LABEL sdk=python

WORKDIR /python/src

ADD ./plugin.spec.yaml /plugin.spec.yaml
ADD ./requirements.txt /python/src/requirements.txt

# The pinned dependencies first, in a layer that changes only with requirements.txt
RUN pip install --no-cache-dir -r requirements.txt

ADD . /python/src

# The plugin itself, built the standard way (pyproject.toml: an isolated build whose wheel carries the
# prebuilt spec and validators; a failed prebuild fails this step), without resolving its dependencies again
RUN pip install --no-cache-dir --no-deps . \
    && cd / && python -c "import pagerduty_plugin.prebuilt"

# InsightConnect's orchestrator starts `http --process_workers N --threads_per_worker M` and calls it on
# port 10001 of the container's network, without a token: this image's choice to answer it there, as it
# calls (`http` on a host keeps 127.0.0.1 and wants a token for any other address). See README.
ENV PAGERDUTY_PLUGIN_HTTP=insightconnect
EXPOSE 10001

# User to run plugin code. The two supported users are: root, nobody
USER nobody

ENTRYPOINT ["/usr/local/bin/pagerduty-plugin"]
