using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace EchoKit.Tests;

public class TlsOptionsTests
{
    [Fact]
    public void Tls_endpoints_without_a_certificate_fail_naming_the_option()
    {
        var options = TlsTestHelpers.TlsOptions(o => o.Tls.ServerCertificate = null);

        var ex = Assert.Throws<ArgumentException>(() => new EchoServer(options));

        Assert.Equal("Tls.ServerCertificate", ex.ParamName);
        Assert.Contains("EchoServerOptions.Tls.ServerCertificate is required when TlsEndPoints is not empty", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_certificate_without_its_private_key_is_refused()
    {
        using var publicOnly = X509CertificateLoader.LoadCertificate(TlsTestHelpers.ServerCertificate.RawData);
        var options = TlsTestHelpers.TlsOptions(o => o.Tls.ServerCertificate = publicOnly);

        var ex = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains("EchoServerOptions.Tls.ServerCertificate must have a private key", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tls_endpoint_cannot_also_be_a_tcp_endpoint_and_the_handshake_timeout_must_be_positive()
    {
        var options = TlsTestHelpers.TlsOptions(o =>
        {
            o.TlsEndPoints[0] = new IPEndPoint(IPAddress.Loopback, 7443);
            o.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 7443));
            o.Tls.HandshakeTimeout = TimeSpan.Zero;
        });

        var ex = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains("EchoServerOptions.TlsEndPoints must not contain 127.0.0.1:7443, which EndPoints already listens on with TCP", ex.Message, StringComparison.Ordinal);
        Assert.Contains("EchoServerOptions.Tls.HandshakeTimeout must be greater than zero", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tls_defaults_are_the_documented_values_and_need_no_certificate_without_tls_endpoints()
    {
        var tls = new EchoServerOptions().Tls;
        Assert.Null(tls.ServerCertificate);
        Assert.Null(tls.ServerCertificateSelector);
        Assert.Equal(SslProtocols.None, tls.EnabledSslProtocols);
        Assert.False(tls.ClientCertificateRequired);
        Assert.Null(tls.ClientCertificateValidation);
        Assert.Equal(TimeSpan.FromSeconds(10), tls.HandshakeTimeout);
        Assert.Null(tls.ConfigureAuthentication);
        TestHelpers.LoopbackOptions().Validate();
    }
}
