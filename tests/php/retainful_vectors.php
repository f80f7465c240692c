<?php
/*
 * Test vectors made the Retainful WooCommerce plugin's way (RestApi::encryptData, RestApi::getRecoveryLink), written
 * from the documented algorithm (docs: /work/shared/reference/retainful-plugin-protocol.md); the plugin's own code is
 * not copied here. PHP's json_encode and openssl_encrypt are the real implementations; the WordPress functions they
 * are reached through are shimmed. Usage: php retainful_vectors.php CASES.json > VECTORS.json
 */

function wp_json_encode($data) { return json_encode($data); }  // WordPress adds only sanity checks on top

function encrypt_data($data, $secret, $iv = null) {  // the plugin: RestApi::encryptData
    $plaintext = wp_json_encode($data);
    $iv = $iv === null ? openssl_random_pseudo_bytes(16) : $iv;
    $ciphertext = openssl_encrypt($plaintext, 'AES256', $secret, OPENSSL_RAW_DATA, $iv);
    $hmac = hash_hmac('sha256', $ciphertext, $secret, true);
    return base64_encode(bin2hex($iv) . ':retainful:' . bin2hex($hmac) . ':retainful:' . bin2hex($ciphertext));
}

function recovery_link($home_url, $cart_token, $secret) {  // the plugin: RestApi::getRecoveryLink / hashTheData
    $token = base64_encode(wp_json_encode(array('cart_token' => $cart_token)));
    $hash = hash_hmac('sha256', $token, $secret);
    return rtrim($home_url, '/') . '/wc-api/retainful?token=' . rawurlencode($token) . '&hash=' . $hash;
}

$cases = json_decode(file_get_contents($argv[1]), true);
$secrets = $cases['secrets'];
$cart = $cases['payloads']['cart'];
$cart['abandoned_checkout_url'] = recovery_link($cases['home_url'], $cart['cart_token'], $secrets['store']);
$payloads = array('cart' => $cart, 'order' => $cases['payloads']['order']);

$vectors = array('envelopes' => array(), 'recovery_links' => array());
foreach ($payloads as $name => $payload) {
    foreach ($secrets as $secret_name => $secret) {
        if ($secret_name !== 'store' && $name !== 'cart') continue;  // short and long secrets: the cart is enough
        foreach ($secret_name === 'store' ? $cases['ivs'] : array($cases['ivs'][0]) as $iv_hex) {
            $blob = encrypt_data($payload, $secret, hex2bin($iv_hex));
            $vectors['envelopes'][] = array(
                'payload' => $name, 'secret' => $secret_name, 'iv' => $iv_hex,
                'plaintext' => wp_json_encode($payload),
                'body' => json_encode(array('data' => $blob)),  // Cart::syncCartData's request body
            );
        }
    }
}
// The connect call's shop.secret_key: the app id sealed with the store's secret.
$vectors['connect_secret_key'] = encrypt_data($cases['app_id'], $secrets['store'], hex2bin($cases['ivs'][0]));
foreach ($secrets as $secret_name => $secret) {
    $vectors['recovery_links'][] = array('secret' => $secret_name, 'cart_token' => $cart['cart_token'],
                                         'link' => recovery_link($cases['home_url'], $cart['cart_token'], $secret));
}
echo json_encode($vectors, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES), "\n";
