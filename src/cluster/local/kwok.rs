//! kwok's configuration: gauntlet's own minimal stages (how the fake node and its pods move
//! through their lifecycle) plus whatever the caller adds (`ClusterLogs`, `ClusterPortForward`,
//! more `Stage`s). Format: <https://kwok.sigs.k8s.io/docs/user/stages-configuration/>.
//!
//! kwok pods run no containers: a pod bound to the fake node is marked Running with every
//! container started; a Job's pod then succeeds (when asked); a deleted pod is removed at once,
//! as a kubelet would after its containers stopped.

/// The annotation that marks nodes kwok manages (passed to `--manage-nodes-with-annotation-selector`).
pub const NODE_ANNOTATION: (&str, &str) = ("kwok.x-k8s.io/node", "fake");

/// The node stage: a new node becomes Ready with loopback addresses and the kwok server as its
/// kubelet endpoint (so pod logs and port-forward reach kwok).
const NODE_READY: &str = r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: gauntlet-node-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - type: Ready
        status: "True"
        reason: KubeletReady
        message: kwok stands in for the kubelet
        lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
      addresses:
      - type: InternalIP
        address: {{ NodeIP | Quote }}
      - type: Hostname
        address: {{ NodeName | Quote }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ NodePort }}
      allocatable: { cpu: "64", memory: 256Gi, pods: "250" }
      capacity: { cpu: "64", memory: 256Gi, pods: "250" }
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        kubeletVersion: kwok
        kubeProxyVersion: kwok
        containerRuntimeVersion: kwok
        kernelVersion: kwok
        osImage: kwok
        bootID: ""
        machineID: ""
        systemUUID: ""
      phase: Running
"#;

/// A scheduled pod starts Running with every container started and ready.
const POD_RUNNING: &str = r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: gauntlet-pod-running
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.status.phase'
      operator: In
      values: ['Pending']
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Running
      startTime: {{ $now | Quote }}
      conditions:
      - { type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }} }
      - { type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }} }
      - { type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }} }
      - { type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }} }
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: true
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
"#;

/// A running pod owned by a Job succeeds (exit code 0), so Jobs complete.
const JOB_POD_SUCCEEDS: &str = r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: gauntlet-job-pod-succeeds
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: DoesNotExist
    - key: '.status.phase'
      operator: In
      values: ['Running']
    - key: '.metadata.ownerReferences.[].kind'
      operator: In
      values: ['Job']
  next:
    statusTemplate: |
      {{ $now := Now }}
      phase: Succeeded
      conditions:
      - { type: Ready, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }} }
      - { type: ContainersReady, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }} }
      containerStatuses:
      {{ range .spec.containers }}
      - name: {{ .name | Quote }}
        image: {{ .image | Quote }}
        ready: false
        started: false
        restartCount: 0
        state:
          terminated:
            exitCode: 0
            reason: Completed
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
      {{ end }}
"#;

/// A pod being deleted goes away (what the kubelet does once its containers stopped).
const POD_DELETE: &str = r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: gauntlet-pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: Exists
  next:
    delete: true
"#;

/// kwok's `--config` file: gauntlet's stages, then `extra` (YAML documents, e.g.
/// `ClusterLogs`, `ClusterPortForward`), separated by `---`.
pub fn config(job_pods_complete: bool, extra: &[String]) -> String {
    let mut docs = vec![NODE_READY, POD_RUNNING, POD_DELETE];
    if job_pods_complete {
        docs.push(JOB_POD_SUCCEEDS);
    }
    docs.extend(extra.iter().map(String::as_str));
    docs.iter()
        .map(|d| d.trim_end())
        .collect::<Vec<_>>()
        .join("\n---\n")
        + "\n"
}

/// kwok configuration kinds it can read from the API instead of `--config` (kind, plural,
/// namespaced), for objects added while it runs (a pod's logs, its port-forward).
const CRD_KINDS: [(&str, &str, bool); 4] = [
    ("Logs", "logs", true),
    ("ClusterLogs", "clusterlogs", false),
    ("PortForward", "portforwards", true),
    ("ClusterPortForward", "clusterportforwards", false),
];

/// The API plural of kwok configuration `kind`, if kwok can read it from the API.
pub fn crd_plural(kind: &str) -> Option<&'static str> {
    CRD_KINDS
        .iter()
        .find(|(k, ..)| *k == kind)
        .map(|(_, p, _)| *p)
}

/// A CustomResourceDefinition for kwok configuration `kind` (see [`crd_plural`]). Its schema
/// is left open: kwok converts and checks what it reads.
pub fn crd(kind: &str) -> Option<serde_json::Value> {
    let (kind, plural, namespaced) = CRD_KINDS.iter().find(|(k, ..)| *k == kind)?;
    Some(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.kwok.x-k8s.io") },
        "spec": {
            "group": "kwok.x-k8s.io",
            "scope": if *namespaced { "Namespaced" } else { "Cluster" },
            "names": { "kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": plural },
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "subresources": { "status": {} },
                "schema": { "openAPIV3Schema": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": true
                } }
            }]
        }
    }))
}

/// The fake node kwok manages, as created through the API.
pub fn node(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                NODE_ANNOTATION.0: NODE_ANNOTATION.1,
                "node.alpha.kubernetes.io/ttl": "0",
            },
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_valid_yaml_documents_with_the_callers_last() {
        let extra = vec!["kind: ClusterLogs\nmetadata: { name: x }\n".to_owned()];
        let text = config(true, &extra);
        let docs: Vec<serde_json::Value> = text
            .split("\n---\n")
            .map(|d| yaml_serde::from_str(d).expect("each document parses"))
            .collect();
        let names: Vec<&str> = docs
            .iter()
            .map(|d| d["metadata"]["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            names,
            [
                "gauntlet-node-ready",
                "gauntlet-pod-running",
                "gauntlet-pod-delete",
                "gauntlet-job-pod-succeeds",
                "x"
            ]
        );
        assert!(!config(false, &[]).contains("gauntlet-job-pod-succeeds"));
    }
}
