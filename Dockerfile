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

# The plugin itself, without resolving its dependencies again; its parsed spec is cached at build
# time in a directory the plugin's user owns (compiled validators are added there as needed)
ENV PAGERDUTY_PLUGIN_CACHE=/var/cache/pagerduty-plugin
RUN pip install --no-cache-dir --no-deps . \
    && pagerduty-plugin spec > /dev/null \
    && chown -R nobody /var/cache/pagerduty-plugin

# User to run plugin code. The two supported users are: root, nobody
USER nobody

ENTRYPOINT ["/usr/local/bin/pagerduty-plugin"]
