/* The pod sandbox's one process (the "pause" container): it holds the pod's namespaces open,
 * reaps zombies when it is the pod's PID 1 (shareProcessNamespace), and exits on SIGINT or
 * SIGTERM. Built static by hack/images.sh into an image FROM scratch: no image can be pulled
 * here, so the kubelet's sandbox image is built locally. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { _exit(sig == SIGTERM ? 0 : 2); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction on_stop = {.sa_handler = stop};
  struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGINT, &on_stop, NULL);
  sigaction(SIGTERM, &on_stop, NULL);
  sigaction(SIGCHLD, &on_child, NULL);
  for (;;) pause();
}
