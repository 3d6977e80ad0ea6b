;; The topology jar that `sparse submit` uploads to Nimbus and `sparse run` runs in Storm local mode.
;; Built by streamparse through squall's compatibility layer (squall/storm/), never by hand; see docs/deploy.md.
;;
;; - Maven Central only: Clojars is not reachable from the build machines, so the default repositories are replaced.
;; - Storm itself is "provided" (the cluster's workers have it), so `lein uberjar` bundles only msgpack-core,
;;   the compiled java/src (squall's msgpack multilang serializer) and _resources/resources (the Python code).
;; - The :local profile adds storm-server for Storm 2 local mode (org.apache.storm.LocalCluster); its classpath
;;   is read with `lein with-profile +local classpath` and never goes into the jar.
(defproject squall "0.1.0-SNAPSHOT"
  :description "squall reference IoT pipeline, packaged for Apache Storm 2.8 by streamparse"
  :repositories ^:replace [["central" {:url "https://repo1.maven.org/maven2/" :snapshots false}]]
  :plugin-repositories ^:replace [["central" {:url "https://repo1.maven.org/maven2/" :snapshots false}]]
  :source-paths []
  :java-source-paths ["java/src"]
  :javac-options ["--release" "11" "-Xlint:-options"]
  :resource-paths ["_resources"]
  :target-path "_build"
  :dependencies [[org.msgpack/msgpack-core "0.9.8"]]
  ;; lein's default :base profile pulls nREPL from Clojars; no REPL is needed to build a jar.
  :profiles {:base {}
             :provided {:dependencies [[org.apache.storm/storm-client "2.8.3"]]}
             :local {:dependencies [[org.apache.storm/storm-server "2.8.3"]]}}
  :jvm-opts ["-Xmx512m"])
