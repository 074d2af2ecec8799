package dev.gauntlet.opensearch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Starts one embedded OpenSearch node for gauntlet's native stack: single-node discovery,
 * HTTP and transport on 127.0.0.1 only, every path under one home directory, and an index
 * template giving every index 0 replicas (a single node can never allocate replicas, so
 * health would stay yellow). Runs until SIGTERM/SIGINT, then closes the node.
 *
 * <p>Arguments (each also readable from the environment variable in brackets):
 * {@code --home DIR} [GAUNTLET_OPENSEARCH_HOME] (data, logs and config go under it),
 * {@code --http-port N} [GAUNTLET_OPENSEARCH_HTTP_PORT],
 * {@code --transport-port N} [GAUNTLET_OPENSEARCH_TRANSPORT_PORT],
 * {@code --cluster-name NAME} (default "gauntlet").
 */
public final class Launcher {
    /** The legacy template the launcher installs; its presence is also the readiness signal. */
    static final String TEMPLATE = "gauntlet-zero-replicas";

    /** Node's constructor that takes classpath plugins is protected: a subclass exposes it. */
    static final class EmbeddedNode extends Node {
        EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    private Launcher() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = parse(args);
        Path home = Path.of(required(opts, "home", "GAUNTLET_OPENSEARCH_HOME")).toAbsolutePath();
        int httpPort = port(required(opts, "http-port", "GAUNTLET_OPENSEARCH_HTTP_PORT"));
        int transportPort =
                port(required(opts, "transport-port", "GAUNTLET_OPENSEARCH_TRANSPORT_PORT"));
        String clusterName = opts.getOrDefault("cluster-name", "gauntlet");

        Path config = home.resolve("config");
        for (Path dir : List.of(config, home.resolve("data"), home.resolve("logs"))) {
            Files.createDirectories(dir);
        }
        Settings settings = Settings.builder()
                .put("cluster.name", clusterName)
                .put("node.name", clusterName + "-0")
                .put("discovery.type", "single-node")
                .put("network.host", "127.0.0.1")
                .put("http.port", httpPort)
                .put("transport.port", transportPort)
                .put("path.home", home.toString())
                .put("path.data", home.resolve("data").toString())
                .put("path.logs", home.resolve("logs").toString())
                // Test machines run with little free disk; the watermarks would make indices
                // read-only and writes would fail for a reason that has nothing to do with
                // what gauntlet checks.
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .build();
        Environment env = InternalSettingsPreparer.prepareEnvironment(
                settings, Map.of(), config, () -> clusterName + "-0");

        Node node = new EmbeddedNode(env, List.of(Netty4Plugin.class));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                System.err.println("opensearch-launcher: closing the node failed: " + e);
            } finally {
                stopped.countDown();
            }
        }, "opensearch-launcher-shutdown"));

        long started = System.nanoTime();
        node.start();
        node.client().admin().indices().preparePutTemplate(TEMPLATE)
                .setPatterns(List.of("*"))
                .setOrder(-1)
                .setSettings(Settings.builder().put("index.number_of_replicas", 0))
                .get();
        System.out.printf("opensearch-launcher: node %s ready on http://127.0.0.1:%d in %d ms%n",
                clusterName + "-0", httpPort, (System.nanoTime() - started) / 1_000_000);
        System.out.flush();
        stopped.await();
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                usage("unexpected argument " + a);
            }
            String key = a.substring(2);
            String value;
            int eq = key.indexOf('=');
            if (eq >= 0) {
                value = key.substring(eq + 1);
                key = key.substring(0, eq);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                usage("--" + key + " needs a value");
                return opts;
            }
            if (!List.of("home", "http-port", "transport-port", "cluster-name").contains(key)) {
                usage("unknown option --" + key);
            }
            opts.put(key, value);
        }
        return opts;
    }

    private static String required(Map<String, String> opts, String key, String envVar) {
        String v = opts.get(key);
        if (v == null || v.isEmpty()) {
            v = System.getenv(envVar);
        }
        if (v == null || v.isEmpty()) {
            usage("--" + key + " (or " + envVar + ") is required");
        }
        return v;
    }

    private static int port(String s) {
        try {
            int p = Integer.parseInt(s);
            if (p > 0 && p < 65536) {
                return p;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        usage("not a port: " + s);
        return -1;
    }

    private static void usage(String problem) {
        System.err.println("opensearch-launcher: " + problem);
        System.err.println("usage: opensearch-launcher --home DIR --http-port N"
                + " --transport-port N [--cluster-name NAME]");
        System.exit(2);
    }
}
