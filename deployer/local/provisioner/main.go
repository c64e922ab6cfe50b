// The local cluster's volume provisioner: a host process (like the kubelet) that gives each claim of
// the StorageClass `deployer-local` a folder <root>/<namespace>/<claim> on the one node, writable by
// any user (the hub and user servers run as uid 1000), through the SIG Storage provisioner library.
// A folder's path depends on the claim only, so a hub deployed again on a new local cluster whose
// volumes were kept (`deployer local down --keep-data`) finds its database and its users' homes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

const pathAnnotation = "deployer.local/volume-folder"

type folders struct {
	root string
	node string
}

func (f *folders) folder(namespace, claim string) (string, error) {
	path := filepath.Join(f.root, namespace, claim)
	if !strings.HasPrefix(path, f.root+string(os.PathSeparator)) {
		return "", fmt.Errorf("claim %s/%s names a folder outside %s", namespace, claim, f.root)
	}
	return path, nil
}

func (f *folders) Provision(ctx context.Context, o controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	path, err := f.folder(o.PVC.Namespace, o.PVC.Name)
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.MkdirAll(path, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.Chmod(path, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	policy := v1.PersistentVolumeReclaimDelete
	if o.StorageClass != nil && o.StorageClass.ReclaimPolicy != nil {
		policy = *o.StorageClass.ReclaimPolicy
	}
	// a `local` volume, not a hostPath one: the kubelet reports a local volume's use
	// (kubelet_volume_stats_*), as it does for the cloud's disks and NFS shares, and never for hostPath
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName, Annotations: map[string]string{pathAnnotation: path}},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: policy,
			AccessModes:                   o.PVC.Spec.AccessModes,
			Capacity:                      v1.ResourceList{v1.ResourceStorage: o.PVC.Spec.Resources.Requests[v1.ResourceStorage]},
			PersistentVolumeSource:        v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: path}},
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: v1.NodeSelectorOpIn, Values: []string{f.node}}}}}}},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

func (f *folders) Delete(ctx context.Context, pv *v1.PersistentVolume) error {
	path, ok := pv.Annotations[pathAnnotation]
	if !ok {
		return &controller.IgnoredError{Reason: "not a volume of this provisioner"}
	}
	if filepath.Dir(filepath.Dir(path)) != f.root {
		return errors.New("volume folder " + path + " is not under " + f.root)
	}
	return os.RemoveAll(path)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "the kubeconfig to reach the API server")
	root := flag.String("root", "", "the folder the volumes' folders are made in")
	node := flag.String("node", "", "the node the volumes are on")
	name := flag.String("provisioner", "deployer.local/hostpath", "the provisioner name StorageClasses use")
	klog.InitFlags(nil)
	flag.Parse()
	if *kubeconfig == "" || *root == "" || *node == "" {
		klog.Fatal("--kubeconfig, --root and --node are required")
	}
	syscall.Umask(0)
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		klog.Fatal(err)
	}
	if err := os.MkdirAll(absRoot, 0o755); err != nil {
		klog.Fatal(err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatalf("reading %s: %v", *kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.Fatal(err)
	}
	ctx := context.Background()
	pc := controller.NewProvisionController(ctx, client, *name, &folders{root: absRoot, node: *node},
		controller.LeaderElection(false))
	pc.Run(ctx)
}
