// fake-gpu-plugin is a FAKE device plugin for the local real node (hack/real-node.sh): it
// advertises N devices of a resource (nvidia.com/gpu by default) to the kubelet through the
// device-plugin API v1beta1, so that pods requesting GPUs schedule, are admitted and run there
// exactly as on a GPU node. There is no GPU behind it: Allocate hands the container only an
// environment variable naming its fake devices. A real cluster runs NVIDIA's device plugin.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

type plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	devices []*pluginapi.Device
	stop    chan struct{}
}

func (p *plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

// ListAndWatch sends the device list once; the devices never change, so it then waits until
// the plugin stops (the kubelet treats a closed stream as the plugin going away).
func (p *plugin) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: p.devices}); err != nil {
		return err
	}
	select {
	case <-p.stop:
	case <-stream.Context().Done():
	}
	return nil
}

func (p *plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{"AUTOCLINT_FAKE_GPUS": strings.Join(c.DevicesIds, ",")},
		})
	}
	return resp, nil
}

func (p *plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

// serve listens on our socket and registers with the kubelet, then returns once either socket
// goes away (a restarting kubelet deletes every socket in the folder and makes a new one of its
// own), so that main serves and registers again.
func serve(dir, resource string, count int, quit <-chan os.Signal) (done bool, err error) {
	socket := filepath.Join(dir, "autoclint-fake-gpu.sock")
	_ = os.Remove(socket)
	lis, err := net.Listen("unix", socket)
	if err != nil {
		return false, err
	}
	p := &plugin{stop: make(chan struct{})}
	for i := 0; i < count; i++ {
		p.devices = append(p.devices, &pluginapi.Device{ID: fmt.Sprintf("fake-gpu-%d", i), Health: pluginapi.Healthy})
	}
	server := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(server, p)
	go func() { _ = server.Serve(lis) }()
	defer func() {
		close(p.stop)
		server.Stop()
		_ = os.Remove(socket)
	}()

	kubeletSocket := filepath.Join(dir, "kubelet.sock")
	conn, err := grpc.NewClient("unix://"+kubeletSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     filepath.Base(socket),
		ResourceName: resource,
		Options:      &pluginapi.DevicePluginOptions{},
	})
	cancel()
	_ = conn.Close()
	if err != nil {
		return false, fmt.Errorf("registering with the kubelet at %s: %w", kubeletSocket, err)
	}
	log.Printf("registered %d fake %s with the kubelet", count, resource)
	mine, _ := os.Stat(socket)
	kubelet, _ := os.Stat(kubeletSocket)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-quit:
			return true, nil
		case <-tick.C:
			m, errM := os.Stat(socket)
			k, errK := os.Stat(kubeletSocket)
			if errM != nil || errK != nil || !os.SameFile(m, mine) || !os.SameFile(k, kubelet) {
				log.Printf("the kubelet restarted (sockets changed); registering again")
				return false, nil
			}
		}
	}
}

func main() {
	dir := flag.String("dir", pluginapi.DevicePluginPath, "the kubelet's device-plugin folder")
	resource := flag.String("resource", "nvidia.com/gpu", "extended resource name to advertise")
	count := flag.Int("count", 2, "number of fake devices")
	flag.Parse()
	if *count < 1 {
		log.Fatalf("-count must be at least 1, got %d", *count)
	}
	quit := make(chan os.Signal, 1)
	signal.Notify(quit, syscall.SIGINT, syscall.SIGTERM)
	for {
		done, err := serve(*dir, *resource, *count, quit)
		if done {
			return
		}
		if err != nil {
			log.Printf("%v; retrying in 2 s", err)
		}
		select {
		case <-quit:
			return
		case <-time.After(2 * time.Second):
		}
	}
}
