// LocalStack starts DynamoDB Local with -javaagent:ddb-local-loader-*.jar, a patch
// it would otherwise download from a host outside the package registries. The
// patch only lifts DynamoDB Local's limit on global secondary indexes, which
// PharmaGuard stays well under, so a do-nothing agent stands in for it.
public final class NoopAgent {
    private NoopAgent() {}

    public static void premain(String args, java.lang.instrument.Instrumentation instrumentation) {
        // nothing to patch
    }
}
