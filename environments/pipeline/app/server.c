/* labkit pipeline app (chapter 08): a tiny HTTP/1.0 server.
 * GET /healthz -> "ok"; anything else -> the contents of /srv/message.txt plus the commit it was built from.
 * Handles SIGTERM (as PID 1 in a container a signal without a handler is ignored, so `docker stop` would wait 10 s). */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

static void reply(int fd, const char *status, const char *body) {
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", status, strlen(body));
    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0) perror("write");
}

int main(void) {
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    const char *commit = getenv("APP_COMMIT") ? getenv("APP_COMMIT") : "unknown";
    char msg[1024] = "hello\n";
    FILE *f = fopen("/srv/message.txt", "r");
    if (f) { size_t n = fread(msg, 1, sizeof msg - 1, f); msg[n] = 0; fclose(f); }
    char body[1200];
    snprintf(body, sizeof body, "%scommit=%s\n", msg, commit);

    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) { perror("listen"); return 1; }
    fprintf(stderr, "app listening on :8080 commit=%s\n", commit);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        char req[1024] = {0};
        ssize_t r = read(c, req, sizeof req - 1);
        if (r > 0 && strncmp(req, "GET /healthz", 12) == 0) reply(c, "200 OK", "ok\n");
        else if (r > 0) reply(c, "200 OK", body);
        close(c);
    }
}
